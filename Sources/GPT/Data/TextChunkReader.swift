import Foundation

/// Where a text stream may be cut into independently encoded chunks.
public enum ChunkCut: Sendable {
    /// At any character (Unicode scalar) boundary: the character tokenizer encodes each
    /// scalar on its own.
    case anyCharacter
    /// Only right before a "\n" that is followed by a visible ASCII character other than "<"
    /// (the start of a special token) ("a  \nB" is cut
    /// as "a  " | "\nB"). GPT-2's pre-tokenization pattern never looks back across that point,
    /// and a whitespace run there is split the same way whole or cut: mid-text, `\s+(?!\S)`
    /// takes the run minus its last character (the "\n", which `\s+` then takes alone), and
    /// at the end of a chunk it takes exactly that same run. So encoding the chunks separately
    /// gives the same ids as encoding the whole text; CRLF files ("a\r" | "\nB") cut too.
    /// (Cutting after the "\n" would not be safe: "  \n" at the end of a chunk is one piece,
    /// mid-text it is "  " + "\n".)
    case lineStart
}

/// One chunk of a text file, cut at a safe point.
public struct TextChunk: Sendable {
    /// The text, validated UTF-8.
    public var text: String
    /// Offset of the chunk's first byte in its file.
    public var byteOffset: Int
    /// Number of bytes the chunk covers.
    public var byteCount: Int
}

/// Reads a UTF-8 text file in chunks of about `chunkBytes` so memory does not grow with the file.
/// A file with no safe cut point inside a chunk makes that chunk grow until one appears.
public final class TextChunkReader {
    public let path: String
    public let cut: ChunkCut
    public let chunkBytes: Int
    private let handle: FileHandle
    private var pending: [UInt8] = []
    private var pendingOffset = 0  // file offset of pending[0]
    private var atEOF = false
    private var sawBytes = false

    /// Opens `path`; fails with `DataError.unreadableInput` when it cannot.
    public init(path: String, cut: ChunkCut, chunkBytes: Int = 1 << 22) throws {
        self.path = path
        self.cut = cut
        self.chunkBytes = max(chunkBytes, 16)
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw DataError.unreadableInput(path: path, reason: "cannot open the file")
        }
        self.handle = handle
    }

    deinit { try? handle.close() }

    /// The next chunk, or nil at the end of the file. Throws `DataError.emptyInput` for a file
    /// with no bytes and `DataError.notUTF8` naming the offset of the first bad byte.
    public func next() throws -> TextChunk? {
        while !atEOF && pending.count < chunkBytes {
            try fill()
        }
        if pending.isEmpty {
            if !sawBytes { throw DataError.emptyInput(path: path) }
            return nil
        }
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
        if let bad = UTF8Validation.firstInvalidOffset(bytes) {
            throw DataError.notUTF8(path: path, byteOffset: pendingOffset + bad)
        }
        let chunk = TextChunk(text: String(decoding: bytes, as: UTF8.self),
                              byteOffset: pendingOffset, byteCount: end)
        pending.removeFirst(end)
        pendingOffset += end
        return chunk
    }

    private func fill() throws {
        let data: Data?
        do {
            data = try handle.read(upToCount: chunkBytes)
        } catch {
            throw DataError.unreadableInput(path: path, reason: error.localizedDescription)
        }
        guard let data, !data.isEmpty else { atEOF = true; return }
        sawBytes = true
        pending.append(contentsOf: data)
    }

    /// The last safe cut in `pending[floor..<limit]` (a length for the chunk), or nil. Cuts never
    /// produce an empty chunk. For `.lineStart` the final byte is never a candidate: its right
    /// neighbour is not known yet.
    private func cutPoint(searchingBackFrom limit: Int, downTo floor: Int) -> Int? {
        switch cut {
        case .anyCharacter:
            var p = limit - 1
            while p >= max(floor, 1) {
                if pending[p] & 0xC0 != 0x80 { return p }  // p starts a scalar
                p -= 1
            }
            return nil
        case .lineStart:
            var p = limit - 2  // candidate: pending[p] == "\n", pending[p+1] visible
            while p >= max(floor, 1) {
                // Not before "<": a special token such as <|endoftext|> ends the text piece
                // before it like the end of the text does, so a cut there would split "\r\n".
                if pending[p] == 0x0A && Self.isVisibleASCII(pending[p + 1]) && pending[p + 1] != 0x3C { return p }
                p -= 1
            }
            return nil
        }
    }

    private static func isVisibleASCII(_ byte: UInt8) -> Bool { byte > 0x20 && byte < 0x7F }
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
            if !isDirectory.boolValue { files.append(path); continue }
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
                .filter { file in
                    var isFolder: ObjCBool = false
                    return fm.fileExists(atPath: file, isDirectory: &isFolder) && !isFolder.boolValue
                }
            if inside.isEmpty { throw DataError.emptyInput(path: path) }
            files += inside
        }
        if files.isEmpty { throw DataError.invalidOption("no input files (give --input FILE or FOLDER)") }
        return files
    }
}
