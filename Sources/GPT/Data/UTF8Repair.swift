/// What `prepare` does with bytes that are not UTF-8 (`--invalid-utf8`).
public enum InvalidUTF8Policy: String, Sendable, CaseIterable {
    /// Stop with an error naming the file and the offset of the first bad byte.
    case error
    /// Replace each maximal ill-formed subpart with U+FFFD, as Python's
    /// `bytes.decode('utf-8', errors='replace')` does, and count the replacements.
    case replace
}

/// Decodes bytes that may not be UTF-8, replacing ill-formed parts with U+FFFD by the Unicode
/// Standard's recommended practice (chapter 3, "U+FFFD Substitution of Maximal Subparts"), which is
/// what Python's `errors='replace'` and the WHATWG decoder do: a lead byte followed by as many
/// continuation bytes as could still begin a well-formed sequence becomes one U+FFFD; any other
/// bad byte becomes one U+FFFD of its own.
enum UTF8Repair {
    /// The text of `bytes` with every maximal ill-formed subpart replaced by U+FFFD, and how many
    /// replacements were made (0 when `bytes` is well-formed).
    static func decode(_ bytes: [UInt8]) -> (text: String, replacements: Int) {
        guard UTF8Validation.firstInvalidOffset(bytes) != nil else {
            return (String(decoding: bytes, as: UTF8.self), 0)
        }
        var repaired: [UInt8] = []
        repaired.reserveCapacity(bytes.count + 16)
        var replacements = 0
        let n = bytes.count
        var i = 0
        while i < n {
            let b0 = bytes[i]
            if b0 < 0x80 { repaired.append(b0); i += 1; continue }
            let (length, low, high) = UTF8Validation.sequence(startingWith: b0) ?? (0, 0x80, 0xBF)
            // How many bytes from i belong to a (possibly incomplete) well-formed sequence.
            var valid = length == 0 ? 0 : 1
            while valid > 0 && valid < length && i + valid < n {
                let byte = bytes[i + valid]
                let ok = valid == 1 ? (byte >= low && byte <= high) : (byte & 0xC0 == 0x80)
                if !ok { break }
                valid += 1
            }
            if length > 0 && valid == length {
                repaired.append(contentsOf: bytes[i..<(i + length)])
                i += length
            } else {
                repaired.append(contentsOf: [0xEF, 0xBF, 0xBD])  // U+FFFD
                replacements += 1
                i += max(valid, 1)
            }
        }
        return (String(decoding: repaired, as: UTF8.self), replacements)
    }
}
