import Foundation

/// One chunk of a text file, cut at a safe point.
public struct TextChunk: Sendable {
    /// The text: the chunk's bytes, which were valid UTF-8 or had their ill-formed parts replaced.
    public var text: String
    /// Offset of the chunk's first byte in its file.
    public var byteOffset: Int
    /// Number of bytes the chunk covers.
    public var byteCount: Int
    /// U+FFFD substitutions made in this chunk (`InvalidUTF8Policy.replace`; 0 otherwise).
    public var replacements: Int = 0
}

/// Reads a UTF-8 text file, or a byte range of one, in chunks of about `chunkBytes` so memory does
/// not grow with the file. A file with no safe cut point inside a chunk makes that chunk grow until
/// one appears; the end of the range always ends a chunk.
public final class TextChunkReader {
    public let path: String
    public let cut: ChunkCut
    public let chunkBytes: Int
    public let invalidUTF8: InvalidUTF8Policy
    /// The bytes of the file this reader covers.
    public let range: Range<Int>
    /// The size of the whole file.
    public let fileSize: Int
    private let handle: FileHandle
    private var pending: [UInt8] = []
    private var pendingOffset: Int  // file offset of pending[0]
    private var readOffset: Int     // file offset of the next byte to read
    private var atEOF = false

    /// Opens `path` to read bytes `range` (the whole file when nil); fails with
    /// `DataError.unreadableInput` when it cannot, or when the file is shorter than `range`. A
    /// range must start and end where `cut` allows a cut (or at the ends of the file), so that
    /// its chunks are the same text as the same bytes read with the rest of the file.
    public init(path: String, cut: ChunkCut, chunkBytes: Int = 1 << 22, range: Range<Int>? = nil,
                invalidUTF8: InvalidUTF8Policy = .error) throws {
        self.path = path
        self.cut = cut
        self.chunkBytes = max(chunkBytes, 16)
        self.invalidUTF8 = invalidUTF8
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw DataError.unreadableInput(path: path, reason: "cannot open the file")
        }
        self.handle = handle
        do {
            fileSize = Int(try handle.seekToEnd())
            let wanted = range ?? 0..<fileSize
            guard wanted.upperBound <= fileSize else {
                throw DataError.unreadableInput(path: path, reason: "the file has \(fileSize) bytes, fewer than the \(wanted.upperBound) measured before (did it change?)")
            }
            try handle.seek(toOffset: UInt64(wanted.lowerBound))
            self.range = wanted
        } catch let error as DataError {
            throw error
        } catch {
            throw DataError.unreadableInput(path: path, reason: error.localizedDescription)
        }
        pendingOffset = self.range.lowerBound
        readOffset = self.range.lowerBound
        atEOF = self.range.isEmpty
    }

    deinit { try? handle.close() }

    /// The next chunk, or nil at the end of the range. Throws `DataError.emptyInput` for a file
    /// with no bytes and, with `InvalidUTF8Policy.error`, `DataError.notUTF8` naming the offset of
    /// the first bad byte.
    public func next() throws -> TextChunk? {
        if fileSize == 0 { throw DataError.emptyInput(path: path) }
        while !atEOF && pending.count < chunkBytes {
            try fill()
        }
        if pending.isEmpty { return nil }
        var end = pending.count
        if !atEOF {
            // Look for a cut in the last part of the buffer; read more when there is none.
            var floor = 1  // positions below it were searched already
            while true {
                if let point = cutPoint(searchingBackFrom: pending.count, downTo: floor) { end = point; break }
                if atEOF { end = pending.count; break }
                floor = max(1, pending.count - 2)
                try fill()
            }
        }
        let bytes = Array(pending[0..<end])
        var chunk = TextChunk(text: "", byteOffset: pendingOffset, byteCount: end)
        switch invalidUTF8 {
        case .error:
            if let bad = UTF8Validation.firstInvalidOffset(bytes) {
                throw DataError.notUTF8(path: path, byteOffset: pendingOffset + bad)
            }
            chunk.text = String(decoding: bytes, as: UTF8.self)
        case .replace:
            (chunk.text, chunk.replacements) = UTF8Repair.decode(bytes)
        }
        pending.removeFirst(end)
        pendingOffset += end
        return chunk
    }

    private func fill() throws {
        let count = min(chunkBytes, range.upperBound - readOffset)
        guard count > 0 else { atEOF = true; return }
        let data: Data?
        do {
            data = try handle.read(upToCount: count)
        } catch {
            throw DataError.unreadableInput(path: path, reason: error.localizedDescription)
        }
        guard let data, !data.isEmpty else {
            throw DataError.unreadableInput(path: path, reason: "the file ended at byte \(readOffset), before the \(range.upperBound) measured before (did it change?)")
        }
        pending.append(contentsOf: data)
        readOffset += data.count
        if readOffset == range.upperBound { atEOF = true }
    }

    /// The last safe cut in `pending[floor..<limit]` (a length for the chunk), or nil. Cuts never
    /// produce an empty chunk. For `.lineStart` the final byte is never a candidate: its right
    /// neighbour is not known yet.
    private func cutPoint(searchingBackFrom limit: Int, downTo floor: Int) -> Int? {
        var p = limit - 1
        while p >= max(floor, 1) {
            if cut.allowsCut(before: p, in: pending) { return p }
            p -= 1
        }
        return nil
    }
}

/// The input files of `prepare`, in corpus order.
public enum InputFiles {
    /// Expands `paths` in order: a file is itself; a folder is every regular, non-hidden file
    /// directly inside it (not recursive), sorted by name. Throws when a path does not exist or
    /// a folder holds no files.
    public static func resolve(_ paths: [String]) throws -> [String] {
        let fm = FileManager.default
        var files: [String] = []
        for path in paths {
            var isDirectory: ObjCBool = false
            guard fm.fileExists(atPath: path, isDirectory: &isDirectory) else {
                throw DataError.unreadableInput(path: path, reason: "no such file or folder")
            }
            if !isDirectory.boolValue {
                // A FIFO or device would block the reader, or never end.
                guard isRegularFile(path) else { throw DataError.unreadableInput(path: path, reason: "not a regular file") }
                files.append(path)
                continue
            }
            let names: [String]
            do {
                names = try fm.contentsOfDirectory(atPath: path)
            } catch {
                throw DataError.unreadableInput(path: path, reason: "cannot list the folder")
            }
            let folder = URL(fileURLWithPath: path)
            let inside = names.filter { !$0.hasPrefix(".") }
                .sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
                .map { folder.appendingPathComponent($0).path }
                .filter(isRegularFile)
            if inside.isEmpty { throw DataError.emptyInput(path: path) }
            files += inside
        }
        if files.isEmpty { throw DataError.invalidOption("no input files (give --input FILE or FOLDER)") }
        return files
    }

    /// True for a regular file, or a symbolic link to one.
    static func isRegularFile(_ path: String) -> Bool {
        var status = stat()
        return stat(path, &status) == 0 && (status.st_mode & S_IFMT) == S_IFREG
    }
}
