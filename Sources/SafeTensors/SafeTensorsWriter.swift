import Foundation

/// Writes a safetensors file of F32 tensors, streamed: the header first (every tensor's name and
/// shape is known up front), then each tensor's values in the order given, so no copy of the
/// whole file is ever in memory. Everything goes to `path.tmp`, which `finish()` syncs to disk
/// and renames over `path`; a writer dropped before `finish()` removes it.
public final class SafeTensorsWriter {
    /// One tensor to write: its name and shape.
    public struct Entry: Equatable, Sendable {
        public let name: String
        public let shape: [Int]
        public init(name: String, shape: [Int]) {
            self.name = name
            self.shape = shape
        }
        public var elementCount: Int { shape.reduce(1, *) }
    }

    public let path: String
    public let entries: [Entry]
    private let temporary: String
    private var fd: Int32
    private var next = 0
    private var finished = false
    /// Bytes written since the last writeback was started.
    private var unsynced = 0
    /// Bytes of tensor data whose disk writes were started (the file's start up to about there).
    private var written = 0

    /// Creates `path.tmp` and writes the header: `entries` in order, their data back to back,
    /// `metadata` as `__metadata__` (transformers wants `format: pt`). The header is padded
    /// with spaces to a multiple of 8 bytes, as the reference writer does, so the data is aligned.
    public init(path: String, entries: [Entry], metadata: [String: String] = ["format": "pt"]) throws {
        self.path = path
        self.entries = entries
        temporary = path + ".tmp"
        var seen = Set<String>()
        for entry in entries {
            guard !entry.name.isEmpty, entry.name != SafeTensorsFile.metadataKey, seen.insert(entry.name).inserted else {
                throw SafeTensorsError(path: path, .invalidArgument, "tensor name '\(entry.name)' is empty, reserved or repeated")
            }
        }
        var header = Self.header(entries: entries, metadata: metadata)
        while header.count % 8 != 0 { header.append(0x20) }
        unlink(temporary)
        fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else {
            throw SafeTensorsError(path: path, .writeFailed, "cannot create \(temporary): \(String(cString: strerror(errno)))")
        }
        var length = UInt64(header.count).littleEndian
        try withUnsafeBytes(of: &length) { try put($0) }
        try header.withUnsafeBytes { try put($0) }
    }

    deinit {
        if fd >= 0 { close(fd) }
        if !finished { unlink(temporary) }
    }

    /// Writes the next tensor's values (exactly its element count).
    public func write(_ values: UnsafeBufferPointer<Float>) throws {
        guard next < entries.count else {
            throw SafeTensorsError(path: path, .invalidArgument, "more tensors written than the \(entries.count) of the header")
        }
        let entry = entries[next]
        guard values.count == entry.elementCount else {
            throw SafeTensorsError(path: path, .invalidArgument, "tensor '\(entry.name)' has \(entry.elementCount) elements, given \(values.count)")
        }
        // In parts of 32 MiB, starting the disk writes of each (without waiting) once it is
        // written, so finish's fsync waits for the last part only.
        let bytes = UnsafeRawBufferPointer(values), part = 32 << 20
        for start in stride(from: 0, to: bytes.count, by: part) {
            try put(UnsafeRawBufferPointer(rebasing: bytes[start..<min(start + part, bytes.count)]))
            unsynced += min(part, bytes.count - start)
            if unsynced >= part {
                _ = posix_fadvise(fd, off_t(written), 0, POSIX_FADV_DONTNEED)  // to the end
                written += unsynced
                unsynced = 0
            }
        }
        next += 1
    }

    /// Checks that every tensor was written, syncs the file and renames it to `path`.
    public func finish() throws {
        guard next == entries.count else {
            throw SafeTensorsError(path: path, .invalidArgument, "\(next) of \(entries.count) tensors written")
        }
        guard fsync(fd) == 0 else { throw SafeTensorsError(path: path, .writeFailed, "fsync: \(String(cString: strerror(errno)))") }
        close(fd)
        fd = -1
        guard rename(temporary, path) == 0 else {
            throw SafeTensorsError(path: path, .writeFailed, "rename from \(temporary): \(String(cString: strerror(errno)))")
        }
        finished = true
    }

    /// Writes all of `bytes` (write(2) may take less at a time).
    private func put(_ bytes: UnsafeRawBufferPointer) throws {
        var done = 0
        while done < bytes.count {
            let n = Glibc.write(fd, bytes.baseAddress! + done, bytes.count - done)
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else {
                throw SafeTensorsError(path: path, .writeFailed, "write to \(temporary): \(String(cString: strerror(errno)))")
            }
            done += n
        }
    }

    /// The JSON header: `__metadata__` first, then each tensor in order with consecutive offsets.
    static func header(entries: [Entry], metadata: [String: String]) -> [UInt8] {
        var parts: [String] = []
        if !metadata.isEmpty {
            let pairs = metadata.keys.sorted().map { "\(quoted($0)):\(quoted(metadata[$0]!))" }
            parts.append("\(quoted(SafeTensorsFile.metadataKey)):{\(pairs.joined(separator: ","))}")
        }
        var offset = 0
        for entry in entries {
            let end = offset + entry.elementCount * SafeTensorsDType.f32.size
            let shape = entry.shape.map(String.init).joined(separator: ",")
            parts.append("\(quoted(entry.name)):{\"dtype\":\"F32\",\"shape\":[\(shape)],\"data_offsets\":[\(offset),\(end)]}")
            offset = end
        }
        return Array("{\(parts.joined(separator: ","))}".utf8)
    }

    /// `text` as a JSON string literal.
    static func quoted(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20: out += String(format: "\\u%04x", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
