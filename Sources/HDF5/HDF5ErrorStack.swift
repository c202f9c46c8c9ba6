import CHDF5

/// Collects the description of the innermost (most specific) entry on HDF5's error stack.
private final class ErrorStackMessage {
    var text: String?
}

/// Returns the most specific message HDF5 recorded for the last failed call and clears the stack.
/// Must be called under the library lock, right after the failing call.
func takeHDF5StackMessage() -> String? {
    let message = ErrorStackMessage()
    let walker: H5E_walk2_t = { _, entry, clientData in
        guard let entry, let clientData else { return 0 }
        let message = Unmanaged<ErrorStackMessage>.fromOpaque(clientData).takeUnretainedValue()
        if message.text == nil, let description = entry.pointee.desc {
            let text = String(cString: description)
            if !text.isEmpty { message.text = text }
        }
        return 0
    }
    withExtendedLifetime(message) {
        _ = H5Ewalk2(chdf5_e_default(), H5E_WALK_UPWARD, walker,
                     Unmanaged.passUnretained(message).toOpaque())
    }
    _ = H5Eclear2(chdf5_e_default())
    return message.text.map(systemErrorOnly)
}

/// HDF5's description of a failed write(2) spans lines (`file write failed: time = ...,
/// filename = ..., errno = 28, error message = 'No space left on device', ...`): the one part
/// that matters, the system's message, kept on one line.
private func systemErrorOnly(_ text: String) -> String {
    guard let start = text.range(of: "error message = '"),
          let end = text[start.upperBound...].firstIndex(of: "'") else { return text }
    let head = text[..<(text.firstIndex(of: ":") ?? start.lowerBound)]
    return "\(head): \(text[start.upperBound..<end])"
}
