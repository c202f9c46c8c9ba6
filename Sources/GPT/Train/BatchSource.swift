import Foundation

/// Where the trainer's batches come from: the dataset's shards (hyperslab reads per window), or,
/// when both splits are small, the same windows cut from a copy of the splits held in memory,
/// which saves an HDF5 read per sequence. Both give exactly the batches of `TokenLoader`
/// (the same `WindowSampler` and `BatchLayout`), so the choice never changes a number.
final class BatchSource {
    let loader: TokenLoader
    /// Whole splits in memory, or nil to read from the shards.
    private var splits: [DataSplit: [Int32]]?

    /// Splits together up to this many tokens are held in memory (4 bytes each):
    /// 64M tokens, 256 MiB. `GPT_DIST_STREAM_DATA=1` always reads from the shards.
    static let memoryLimit = 64 << 20

    init(loader: TokenLoader) throws {
        self.loader = loader
        let total = loader.tokenCount(.train) + loader.tokenCount(.val)
        guard total <= BatchSource.memoryLimit, ProcessInfo.processInfo.environment["GPT_DIST_STREAM_DATA"] == nil else { return }
        var splits: [DataSplit: [Int32]] = [:]
        for split in [DataSplit.train, .val] {
            var tokens = [Int32](repeating: 0, count: loader.tokenCount(split))
            try loader.readTokens(split, start: 0, count: tokens.count, into: &tokens)
            splits[split] = tokens
        }
        self.splits = splits
    }

    /// True when the splits are held in memory.
    var isInMemory: Bool { splits != nil }

    /// Rank `rank`'s micro-step `microStep` of optimizer step `step` (as `TokenLoader.trainingBatch`).
    func trainingBatch(seed: UInt64, step: Int, layout: BatchLayout, rank: Int, microStep: Int, blockSize: Int,
                       inputs: inout [Int32], targets: inout [Int32]) throws {
        guard splits != nil else {
            return try loader.trainingBatch(seed: seed, step: step, layout: layout, rank: rank, microStep: microStep,
                                            blockSize: blockSize, inputs: &inputs, targets: &targets)
        }
        try randomBatch(split: .train, purpose: .training, seed: seed, step: step,
                        sequences: layout.sequences(rank: rank, microStep: microStep), blockSize: blockSize,
                        inputs: &inputs, targets: &targets)
    }

    /// The random windows `sequences` of (seed, split, purpose, step) (as `TokenLoader.randomBatch`).
    func randomBatch(split: DataSplit, purpose: WindowPurpose, seed: UInt64, step: Int, sequences: Range<Int>,
                     blockSize: Int, inputs: inout [Int32], targets: inout [Int32]) throws {
        guard let tokens = splits?[split] else {
            return try loader.randomBatch(split: split, purpose: purpose, seed: seed, step: step, sequences: sequences,
                                          blockSize: blockSize, inputs: &inputs, targets: &targets)
        }
        guard tokens.count > blockSize else {
            throw DataError.invalidRequest("\(loader.directory): the \(split.rawValue) split has \(tokens.count) tokens, too few for block size \(blockSize) (needs at least \(blockSize + 1))")
        }
        guard inputs.count >= sequences.count * blockSize, targets.count >= sequences.count * blockSize else {
            throw DataError.invalidRequest("batch buffers hold \(min(inputs.count, targets.count)) tokens; \(sequences.count) windows of \(blockSize) need more")
        }
        let sampler = WindowSampler(seed: seed)
        tokens.withUnsafeBufferPointer { source in
            inputs.withUnsafeMutableBufferPointer { x in
                targets.withUnsafeMutableBufferPointer { y in
                    for (row, sequence) in sequences.enumerated() {
                        let start = sampler.start(split: split, purpose: purpose, step: step, sequence: sequence,
                                                  tokenCount: source.count, blockSize: blockSize)
                        (x.baseAddress! + row * blockSize).update(from: source.baseAddress! + start, count: blockSize)
                        (y.baseAddress! + row * blockSize).update(from: source.baseAddress! + start + 1, count: blockSize)
                    }
                }
            }
        }
    }
}
