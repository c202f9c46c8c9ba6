import Foundation
import Parallel

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
    /// Threads that encode chunks in parallel (on each rank).
    public var workers: Int = 1
    /// When set, refuse a split shorter than one window of this block size (`block_size + 1` tokens).
    public var blockSize: Int?
    /// Bytes of text read and encoded at a time.
    public var chunkBytes: Int = 1 << 22
    /// What to do with bytes that are not UTF-8.
    public var invalidUTF8: InvalidUTF8Policy = .error

    public init(inputs: [String], output: String) {
        self.inputs = inputs
        self.output = output
    }
}

/// What `prepare` wrote (the same on every rank).
public struct PrepareSummary: Sendable {
    public var files: [String]
    public var tokenizerKind: TokenizerKind
    public var vocabularySize: Int
    public var width: TokenWidth
    public var trainTokens: Int
    public var valTokens: Int
    /// Shard file names, train then val.
    public var shardFiles: [String]
    /// U+FFFD substitutions made over all ranks (`InvalidUTF8Policy.replace`; 0 otherwise).
    public var replacements: Int
}

/// `gpt-dist prepare`: text files → a dataset folder of HDF5 shards (see docs/dataset-format.md),
/// by one process or by every rank of an `mpirun` job, with the same result.
///
/// Streaming passes keep memory bounded by one chunk of text plus one shard of tokens: (character
/// tokenizer only) the character set; the encoding into a temporary token file per rank; the
/// shards cut from those files. Rank `r` reads its contiguous share of the corpus bytes
/// (`CorpusPartition`); the ranks then exchange character sets and token counts, so every rank
/// knows the whole stream's split and shard boundaries, and shard `k` is written by rank
/// `k % ranks`. Every file is written under a temporary name and renamed when complete, `meta.h5`
/// last (by rank 0, once every shard is in place). Each step ends with the ranks agreeing on
/// whether it succeeded (`RankAgreement`), so a failure on one rank stops all of them with its
/// error, and everything written is removed again.
public enum DatasetPreparer {
    /// Name of rank `rank`'s temporary token file inside the output folder while preparing.
    static func spoolName(rank: Int) -> String { ".tokens.\(rank).spool" }

    /// Prepares with `tokenizer` (a BPE tokenizer loaded by the caller), or with the corpus's
    /// character tokenizer when `tokenizer` is nil. Every rank of `communicator` calls it with the
    /// same options; the output folder must be on a file system they all share.
    public static func prepare(_ options: PrepareOptions, tokenizer given: (any Tokenizer)?,
                               communicator: any Communicator = LocalCommunicator(),
                               progress: ((PrepareProgress) -> Void)? = nil) throws -> PrepareSummary {
        let steps = RankAgreement(communicator)
        let files = try steps.run { () -> [String] in
            try check(options)
            return try InputFiles.resolve(options.inputs)
        }
        // Rank 0 checks (or creates) the output folder; then the others join it.
        let made = try steps.run { communicator.rank == 0 ? try OutputFolder(path: options.output) : nil }
        let folder: OutputFolder
        do {
            folder = try steps.run { try made ?? OutputFolder(joining: options.output) }
        } catch {
            made?.removeEverythingWritten()
            throw error
        }
        do {
            return try prepare(files: files, options: options, tokenizer: given, folder: folder,
                               steps: steps, progress: progress)
        } catch {
            folder.removeFilesWritten()
            // Every rank removes its own files before rank 0 removes the folder it created.
            if communicator.size > 1 && steps.isAgreed(error) { try? communicator.barrier() }
            folder.removeFolderIfCreated()
            throw error
        }
    }

    private static func check(_ options: PrepareOptions) throws {
        guard options.valFraction >= 0, options.valFraction < 1 else {
            throw DataError.invalidOption("--val-fraction must be in [0, 1); got \(options.valFraction)")
        }
        guard options.shardTokens > 0 else {
            throw DataError.invalidOption("--shard-tokens must be positive; got \(options.shardTokens)")
        }
        guard options.workers > 0 else {
            throw DataError.invalidOption("--workers must be positive; got \(options.workers)")
        }
    }

    private static func prepare(files: [String], options: PrepareOptions, tokenizer given: (any Tokenizer)?,
                                folder: OutputFolder, steps: RankAgreement,
                                progress: ((PrepareProgress) -> Void)?) throws -> PrepareSummary {
        let communicator = steps.communicator
        let rank = communicator.rank, size = communicator.size
        // A character tokenizer encodes each scalar alone, so chunks may end anywhere; BPE needs
        // cuts its pre-tokenizer cannot see (see ChunkCut.lineStart).
        let cut: ChunkCut = (given?.kind ?? .character) == .character ? .anyCharacter : .lineStart
        let pieces = try steps.run { try CorpusPartition(files: files, cut: cut).pieces(rank: rank, of: size) }
        let encoder = CorpusEncoder(pieces: pieces, cut: cut, chunkBytes: options.chunkBytes, workers: options.workers,
                                    invalidUTF8: options.invalidUTF8, progress: progress)
        let tokenizer: any Tokenizer
        if let given {
            tokenizer = given
        } else {
            let seen = try steps.run { try encoder.characterSet() }
            tokenizer = try characterTokenizer(merging: seen, steps: steps)
        }
        let width = TokenWidth(vocabularySize: tokenizer.vocabularySize)

        // Each rank encodes its share into its own token file...
        let spoolPath = folder.track(spoolName(rank: rank))
        let (count, replacements) = try steps.run { () -> (Int, Int) in
            let spool = try TokenSpool(path: spoolPath, width: width)
            let replacements = try encoder.encode(with: tokenizer) { try spool.append($0) }
            try spool.finish()
            return (spool.count, replacements)
        }
        // ...and learns where every rank's tokens go in the whole stream.
        let gathered = try communicator.allgather([Int64(count), Int64(replacements)])
        let counts = (0..<size).map { Int(gathered[2 * $0]) }
        let totalReplacements = (0..<size).reduce(0) { $0 + Int(gathered[2 * $1 + 1]) }

        let plan = try steps.run {
            try ShardPlan(tokenCount: counts.reduce(0, +), valFraction: options.valFraction,
                          shardTokens: options.shardTokens, blockSize: options.blockSize)
        }
        let id = try steps.broadcast(rank == 0 ? UUID().uuidString : "", root: 0)
        let info = DatasetInfo(id: id, tokenizer: tokenizer, width: width,
                               trainTokens: plan.trainTokens, valTokens: plan.valTokens,
                               trainShards: plan.shards.filter { $0.split == .train }.count,
                               valShards: plan.shards.filter { $0.split == .val }.count,
                               shardTokens: options.shardTokens, sourceFiles: files)
        let spools = TokenSpoolSet(paths: (0..<size).map { folder.url(spoolName(rank: $0)) }, counts: counts, width: width)
        try steps.run {
            defer { spools.close() }
            try writeShards(plan, info: info, from: spools, rank: rank, of: size, folder: folder, progress: progress)
        }
        // Every shard is in place and no rank reads the token files any more.
        try? FileManager.default.removeItem(atPath: spoolPath)
        try steps.run {
            guard rank == 0 else { return }
            let metaTemporary = folder.track("." + DatasetInfo.metaFileName + ".tmp")
            try MetaFile.write(info, to: metaTemporary)
            try folder.rename(metaTemporary, to: folder.track(DatasetInfo.metaFileName))
        }
        return PrepareSummary(files: files, tokenizerKind: tokenizer.kind, vocabularySize: tokenizer.vocabularySize,
                              width: width, trainTokens: plan.trainTokens, valTokens: plan.valTokens,
                              shardFiles: plan.shards.map(\.fileName), replacements: totalReplacements)
    }

    /// The corpus's character set from every rank's share: the ranks' sets, gathered and merged.
    private static func characterTokenizer(merging seen: CharVocabularyBuilder, steps: RankAgreement) throws -> CharTokenizer {
        let communicator = steps.communicator
        var all = seen
        if communicator.size > 1 {
            let mine = seen.sortedScalars.map { Int32(bitPattern: $0.value) }
            let counts = try communicator.allgather([Int64(mine.count)]).map { Int($0) }
            let before = counts[..<communicator.rank].reduce(0, +)
            var scalars = [Int32](repeating: 0, count: counts.reduce(0, +))
            scalars.replaceSubrange(before..<(before + mine.count), with: mine)
            try scalars.withUnsafeMutableBufferPointer { try communicator.allgather(inPlace: $0, counts: counts) }
            all = CharVocabularyBuilder()
            all.add(codePoints: scalars.map { UInt32(bitPattern: $0) })
        }
        return try steps.run { try CharTokenizer(scalars: all.sortedScalars) }
    }

    /// Writes this rank's shards (`k % size == rank`), each under a temporary name first.
    private static func writeShards(_ plan: ShardPlan, info: DatasetInfo, from spools: TokenSpoolSet,
                                    rank: Int, of size: Int, folder: OutputFolder,
                                    progress: ((PrepareProgress) -> Void)?) throws {
        let mine = plan.shards.enumerated().filter { $0.offset % size == rank }.map(\.element)
        let total = mine.reduce(0) { $0 + $1.tokens.count }
        var written = 0
        for spec in mine {
            let splitStart = spec.split == .train ? 0 : plan.trainTokens
            let header = ShardHeader(datasetID: info.id, split: spec.split, index: spec.index,
                                     firstToken: spec.tokens.lowerBound - splitStart,
                                     tokenCount: spec.tokens.count, vocabularySize: info.vocabularySize,
                                     tokenizerKind: info.tokenizer.kind, width: info.width, sourceFiles: info.sourceFiles)
            let temporary = folder.track("." + spec.fileName + ".tmp")
            switch info.width {
            case .uint16:
                try ShardFile.write(header: header, tokens: spools.read(spec.tokens, as: UInt16.self), to: temporary)
            case .uint32:
                try ShardFile.write(header: header, tokens: spools.read(spec.tokens, as: UInt32.self), to: temporary)
            }
            try folder.rename(temporary, to: folder.track(spec.fileName))
            written += spec.tokens.count
            progress?(PrepareProgress(phase: .writing, done: written, total: total))
        }
    }
}
