import Foundation

/// The options of `gpt-dist prepare`.
public struct PrepareOptions: Sendable {
    /// Input files and folders, in corpus order (see `InputFiles.resolve`).
    public var inputs: [String]
    /// The output folder; it must not exist or be empty.
    public var output: String
    /// The last fraction of the token stream that becomes the val split.
    public var valFraction: Double = 0.1
    /// The most tokens per shard file.
    public var shardTokens: Int = 100_000_000
    /// Threads that encode chunks in parallel.
    public var workers: Int = 1
    /// When set, refuse a split shorter than one window of this block size (`block_size + 1` tokens).
    public var blockSize: Int?
    /// Bytes of text read and encoded at a time.
    public var chunkBytes: Int = 1 << 22

    public init(inputs: [String], output: String) {
        self.inputs = inputs
        self.output = output
    }
}

/// What `prepare` wrote.
public struct PrepareSummary: Sendable {
    public var files: [String]
    public var tokenizerKind: TokenizerKind
    public var vocabularySize: Int
    public var width: TokenWidth
    public var trainTokens: Int
    public var valTokens: Int
    /// Shard file names, train then val.
    public var shardFiles: [String]
}

/// `gpt-dist prepare`: text files → a dataset folder of HDF5 shards (see docs/dataset-format.md).
///
/// Three streaming passes keep memory bounded by one chunk of text plus one shard of tokens:
/// (character tokenizer only) the character set; the encoding into a temporary token file; the
/// shards cut from it. Every file is written under a temporary name and renamed when complete,
/// `meta.h5` last; on failure everything written is removed again.
public enum DatasetPreparer {
    /// Name of the temporary token file inside the output folder while preparing.
    static let spoolName = ".tokens.spool"

    /// Prepares with `tokenizer` (a BPE tokenizer loaded by the caller), or with the corpus's
    /// character tokenizer when `tokenizer` is nil.
    public static func prepare(_ options: PrepareOptions, tokenizer given: (any Tokenizer)?,
                               progress: ((PrepareProgress) -> Void)? = nil) throws -> PrepareSummary {
        guard options.valFraction >= 0, options.valFraction < 1 else {
            throw DataError.invalidOption("--val-fraction must be in [0, 1); got \(options.valFraction)")
        }
        guard options.shardTokens > 0 else {
            throw DataError.invalidOption("--shard-tokens must be positive; got \(options.shardTokens)")
        }
        guard options.workers > 0 else {
            throw DataError.invalidOption("--workers must be positive; got \(options.workers)")
        }
        let files = try InputFiles.resolve(options.inputs)
        let folder = try OutputFolder(path: options.output)
        do {
            let summary = try prepare(files: files, options: options, tokenizer: given, folder: folder, progress: progress)
            return summary
        } catch {
            folder.removeEverythingWritten()
            throw error
        }
    }

    private static func prepare(files: [String], options: PrepareOptions, tokenizer given: (any Tokenizer)?,
                                folder: OutputFolder, progress: ((PrepareProgress) -> Void)?) throws -> PrepareSummary {
        // A character tokenizer encodes each scalar alone, so chunks may end anywhere; BPE needs
        // cuts its pre-tokenizer cannot see (see ChunkCut.lineStart).
        var encoder = CorpusEncoder(files: files, cut: .anyCharacter, chunkBytes: options.chunkBytes,
                                    workers: options.workers, progress: progress)
        let tokenizer: any Tokenizer = try given ?? encoder.characterTokenizer()
        if tokenizer.kind != .character { encoder.cut = .lineStart }
        let width = TokenWidth(vocabularySize: tokenizer.vocabularySize)

        let spool = try TokenSpool(path: folder.track(spoolName), width: width)
        defer { spool.remove() }
        try encoder.encode(with: tokenizer) { try spool.append($0) }
        try spool.flush()

        let plan = try ShardPlan(tokenCount: spool.count, valFraction: options.valFraction,
                                 shardTokens: options.shardTokens, blockSize: options.blockSize)
        let info = DatasetInfo(id: UUID().uuidString, tokenizer: tokenizer, width: width,
                               trainTokens: plan.trainTokens, valTokens: plan.valTokens,
                               trainShards: plan.shards.filter { $0.split == .train }.count,
                               valShards: plan.shards.filter { $0.split == .val }.count,
                               shardTokens: options.shardTokens, sourceFiles: files)
        var written = 0
        let total = spool.count
        for spec in plan.shards {
            let splitStart = spec.split == .train ? 0 : plan.trainTokens
            let header = ShardHeader(datasetID: info.id, split: spec.split, index: spec.index,
                                     firstToken: spec.tokens.lowerBound - splitStart,
                                     tokenCount: spec.tokens.count, vocabularySize: info.vocabularySize,
                                     tokenizerKind: tokenizer.kind, width: width, sourceFiles: files)
            let temporary = folder.track("." + spec.fileName + ".tmp")
            switch width {
            case .uint16:
                try ShardFile.write(header: header, tokens: spool.read(spec.tokens, as: UInt16.self), to: temporary)
            case .uint32:
                try ShardFile.write(header: header, tokens: spool.read(spec.tokens, as: UInt32.self), to: temporary)
            }
            try folder.rename(temporary, to: folder.track(spec.fileName))
            written += spec.tokens.count
            progress?(PrepareProgress(phase: .writing, done: written, total: total))
        }
        let metaTemporary = folder.track("." + DatasetInfo.metaFileName + ".tmp")
        try MetaFile.write(info, to: metaTemporary)
        try folder.rename(metaTemporary, to: folder.track(DatasetInfo.metaFileName))
        return PrepareSummary(files: files, tokenizerKind: tokenizer.kind, vocabularySize: tokenizer.vocabularySize,
                              width: width, trainTokens: plan.trainTokens, valTokens: plan.valTokens,
                              shardFiles: plan.shards.map(\.fileName))
    }
}

/// The output folder of `prepare`: checked to be new or empty, and every file written into it
/// remembered so a failure can remove them (and the folder, when `prepare` created it).
final class OutputFolder {
    let path: String
    private let created: Bool
    private var written: [String] = []

    init(path: String) throws {
        let fm = FileManager.default
        var isDirectory: ObjCBool = false
        if fm.fileExists(atPath: path, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else {
                throw DataError.writeFailed(path: path, reason: "--out exists and is a file, not a folder")
            }
            let contents = (try? fm.contentsOfDirectory(atPath: path)) ?? ["?"]
            guard contents.isEmpty else { throw DataError.outputExists(path: path) }
            created = false
        } else {
            do {
                try fm.createDirectory(atPath: path, withIntermediateDirectories: true)
            } catch {
                throw DataError.writeFailed(path: path, reason: "cannot create the output folder")
            }
            created = true
        }
        self.path = path
    }

    func url(_ name: String) -> String { URL(fileURLWithPath: path).appendingPathComponent(name).path }

    /// The path of `name` in the folder, remembered for cleanup.
    func track(_ name: String) -> String {
        let full = url(name)
        written.append(full)
        return full
    }

    func rename(_ from: String, to: String) throws {
        guard Foundation.rename(from, to) == 0 else {
            throw DataError.writeFailed(path: to, reason: String(cString: strerror(errno)))
        }
    }

    func removeEverythingWritten() {
        let fm = FileManager.default
        for file in written { try? fm.removeItem(atPath: file) }
        if created { try? fm.removeItem(atPath: path) }
    }
}
