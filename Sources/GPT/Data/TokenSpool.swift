import Foundation

/// A temporary file of token ids in native byte order and a fixed width: `prepare` encodes the
/// whole corpus into it first (the token count, and so the train/val split, is only known at the
/// end), then cuts it into shards. Memory stays bounded by one buffer, whatever the corpus size.
final class TokenSpool {
    let path: String
    let width: TokenWidth
    private let handle: FileHandle
    private(set) var count = 0
    private var buffer: [UInt8] = []
    private let flushBytes = 1 << 22

    /// Creates (truncates) the spool file at `path`.
    init(path: String, width: TokenWidth) throws {
        self.path = path
        self.width = width
        guard FileManager.default.createFile(atPath: path, contents: nil),
              let handle = FileHandle(forUpdatingAtPath: path) else {
            throw DataError.writeFailed(path: path, reason: "cannot create the temporary token file")
        }
        self.handle = handle
    }

    deinit { try? handle.close() }

    /// Appends `tokens` (each already checked to be in the vocabulary).
    func append(_ tokens: [Int32]) throws {
        switch width {
        case .uint16:
            let narrow = tokens.map { UInt16(truncatingIfNeeded: $0) }
            narrow.withUnsafeBytes { buffer.append(contentsOf: $0) }
        case .uint32:
            tokens.withUnsafeBytes { buffer.append(contentsOf: $0) }
        }
        count += tokens.count
        if buffer.count >= flushBytes { try flush() }
    }

    /// Writes buffered tokens to the file.
    func flush() throws {
        guard !buffer.isEmpty else { return }
        do {
            try handle.write(contentsOf: buffer)
        } catch {
            throw DataError.writeFailed(path: path, reason: error.localizedDescription)
        }
        buffer.removeAll(keepingCapacity: true)
    }

    /// Reads tokens `range` (after `flush()`) as values of type `T` (UInt16 or UInt32, matching
    /// `width`), straight into the returned array (no intermediate copy: a shard can be large).
    func read<T: FixedWidthInteger>(_ range: Range<Int>, as type: T.Type) throws -> [T] {
        precondition(MemoryLayout<T>.size == width.byteCount)
        let byteCount = range.count * width.byteCount
        var values = [T](repeating: 0, count: range.count)
        let fd = handle.fileDescriptor
        var done = 0
        try values.withUnsafeMutableBytes { target in
            while done < byteCount {
                let got = pread(fd, target.baseAddress! + done, byteCount - done,
                                off_t(range.lowerBound * width.byteCount + done))
                if got < 0 && errno == EINTR { continue }
                guard got > 0 else {
                    throw DataError.writeFailed(path: path, reason: got < 0 ? String(cString: strerror(errno))
                                                : "temporary token file is shorter than expected")
                }
                done += got
            }
        }
        return values
    }

    /// Deletes the file.
    func remove() {
        try? handle.close()
        try? FileManager.default.removeItem(atPath: path)
    }
}
