import Foundation

/// A temporary file of token ids in native byte order and a fixed width: each rank of `prepare`
/// encodes its share of the corpus into one first (the token count, and so the train/val split, is
/// only known at the end), then the shards are cut from them (`TokenSpoolSet`). Memory stays
/// bounded by one buffer, whatever the corpus size.
final class TokenSpool {
    let path: String
    let width: TokenWidth
    private let handle: FileHandle
    private var closed = false
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

    deinit { if !closed { try? handle.close() } }

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

    /// Writes buffered tokens, forces them to storage and closes the file, so another process
    /// (another rank, on another machine of a shared file system) can read all of them.
    func finish() throws {
        try flush()
        do {
            try handle.synchronize()
            closed = true
            try handle.close()
        } catch {
            throw DataError.writeFailed(path: path, reason: error.localizedDescription)
        }
    }

    /// Deletes the file.
    func remove() {
        if !closed { try? handle.close() }
        closed = true
        try? FileManager.default.removeItem(atPath: path)
    }
}
