import Foundation

/// What `prepare` is doing, for a progress display: `done` of `total` input bytes.
public struct PrepareProgress: Sendable {
    public enum Phase: String, Sendable {
        /// Reading the corpus once for its character set (character tokenizer only).
        case vocabulary
        /// Encoding the corpus.
        case encoding
        /// Writing shard files.
        case writing
    }
    public var phase: Phase
    public var done: Int
    public var total: Int
}

/// Streams parts of text files through a tokenizer in order, chunk by chunk, optionally encoding
/// several chunks at once on worker threads (the order of the tokens never depends on the workers).
struct CorpusEncoder {
    /// The parts of the corpus to read, in corpus order.
    var pieces: [FilePiece]
    var cut: ChunkCut
    var chunkBytes: Int
    var workers: Int
    var invalidUTF8: InvalidUTF8Policy = .error
    var progress: ((PrepareProgress) -> Void)?

    init(pieces: [FilePiece], cut: ChunkCut, chunkBytes: Int, workers: Int,
         invalidUTF8: InvalidUTF8Policy = .error, progress: ((PrepareProgress) -> Void)?) {
        self.pieces = pieces
        self.cut = cut
        self.chunkBytes = chunkBytes
        self.workers = workers
        self.invalidUTF8 = invalidUTF8
        self.progress = progress
    }

    /// An encoder of whole files.
    init(files: [String], cut: ChunkCut, chunkBytes: Int, workers: Int, progress: ((PrepareProgress) -> Void)?) {
        self.init(pieces: files.map { FilePiece(path: $0, bytes: nil) }, cut: cut, chunkBytes: chunkBytes,
                  workers: workers, progress: progress)
    }

    /// Total bytes of the pieces.
    func totalBytes() -> Int {
        pieces.reduce(0) { sum, piece in
            if let bytes = piece.bytes { return sum + bytes.count }
            return sum + ((try? FileManager.default.attributesOfItem(atPath: piece.path)[.size] as? Int) ?? 0)
        }
    }

    private func reader(_ piece: FilePiece) throws -> TextChunkReader {
        try TextChunkReader(path: piece.path, cut: cut, chunkBytes: chunkBytes, range: piece.bytes, invalidUTF8: invalidUTF8)
    }

    /// Visits every chunk of every piece in order (validating UTF-8; empty files are errors).
    func forEachChunk(phase: PrepareProgress.Phase, _ body: (_ file: String, _ chunk: TextChunk) throws -> Void) throws {
        let total = totalBytes()
        var done = 0
        for piece in pieces {
            let reader = try reader(piece)
            while let chunk = try reader.next() {
                try body(piece.path, chunk)
                done += chunk.byteCount
                progress?(PrepareProgress(phase: phase, done: done, total: total))
            }
        }
    }

    /// The characters of the pieces, for the corpus's character set.
    func characterSet() throws -> CharVocabularyBuilder {
        var builder = CharVocabularyBuilder()
        try forEachChunk(phase: .vocabulary) { _, chunk in builder.add(chunk.text) }
        return builder
    }

    /// The character set of the pieces: nanoGPT's `sorted(list(set(data)))`.
    func characterTokenizer() throws -> CharTokenizer {
        try CharTokenizer(scalars: characterSet().sortedScalars)
    }

    /// Encodes every piece with `tokenizer`, handing the ids to `sink` in corpus order, and returns
    /// the number of U+FFFD substitutions made. Each file is encoded on its own (a file boundary
    /// is a chunk boundary). Encoding errors name the file and the byte offset of the chunk they
    /// happened in.
    @discardableResult
    func encode(with tokenizer: any Tokenizer, into sink: ([Int32]) throws -> Void) throws -> Int {
        let total = totalBytes()
        var done = 0
        var replacements = 0
        let workers = max(1, self.workers)
        for piece in pieces {
            let reader = try reader(piece)
            var finished = false
            while !finished {
                // Read up to `workers` chunks on this thread, encode them in parallel, keep order.
                var batch: [TextChunk] = []
                while batch.count < workers {
                    guard let chunk = try reader.next() else { finished = true; break }
                    batch.append(chunk)
                }
                if batch.isEmpty { break }
                let results = Self.encodeInParallel(batch, tokenizer: tokenizer)
                for (chunk, result) in zip(batch, results) {
                    switch result {
                    case .success(let ids):
                        try sink(ids)
                    case .failure(let error):
                        throw Self.locate(error, file: piece.path, chunk: chunk)
                    }
                    replacements += chunk.replacements
                    done += chunk.byteCount
                    progress?(PrepareProgress(phase: .encoding, done: done, total: total))
                }
            }
        }
        return replacements
    }

    private static func encodeInParallel(_ chunks: [TextChunk], tokenizer: any Tokenizer) -> [Result<[Int32], Error>] {
        if chunks.count == 1 { return [Result { try tokenizer.encode(chunks[0].text) }] }
        let results = ResultSlots(count: chunks.count)
        DispatchQueue.concurrentPerform(iterations: chunks.count) { i in
            results.set(i, Result { try tokenizer.encode(chunks[i].text) })
        }
        return results.values.map { $0! }
    }

    /// Puts the file and where in it into an encoding error.
    private static func locate(_ error: Error, file: String, chunk: TextChunk) -> Error {
        if case let DataError.unknownCharacter(scalar, position) = error {
            let prefix = chunk.text.unicodeScalars.prefix(position)
            let offset = chunk.byteOffset + prefix.reduce(0) { $0 + UTF8.width($1) }
            return DataError.unreadableInput(
                path: file, reason: "character \(DataError.describe(scalar)) at byte offset \(offset) is not in the tokenizer's vocabulary")
        }
        return DataError.unreadableInput(path: file, reason: "cannot encode the text near byte offset \(chunk.byteOffset): \(error)")
    }
}

/// One slot per parallel task; each task writes only its own slot.
private final class ResultSlots: @unchecked Sendable {
    var values: [Result<[Int32], Error>?]
    private let lock = NSLock()
    init(count: Int) { values = Array(repeating: nil, count: count) }
    func set(_ i: Int, _ value: Result<[Int32], Error>) { lock.lock(); values[i] = value; lock.unlock() }
}
