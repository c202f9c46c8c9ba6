import Foundation

/// Where the trainer's windows come from: the dataset's shards (hyperslab reads per window), or,
/// when both splits are small, a copy of the splits held in memory, which saves an HDF5 read per
/// sequence. Both give exactly `TokenLoader.windows`, so the choice never changes a number.
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

    /// Rows `0..<starts.count` of `inputs`/`targets`: the windows of `split` at `starts`
    /// (as `TokenLoader.windows`).
    func windows(split: DataSplit, starts: ArraySlice<Int>, blockSize: Int,
                 inputs: inout [Int32], targets: inout [Int32]) throws {
        try starts.withUnsafeBufferPointer { s in
            try inputs.withUnsafeMutableBufferPointer { x in
                try targets.withUnsafeMutableBufferPointer { y in
                    guard let tokens = splits?[split] else {
                        return try loader.windows(split: split, starts: s, blockSize: blockSize, inputs: x, targets: y)
                    }
                    // The copy is the whole split, so the loader's checks hold for it.
                    try loader.checkWindows(split: split, starts: s, blockSize: blockSize, inputs: x, targets: y)
                    tokens.withUnsafeBufferPointer { source in
                        for (row, start) in s.enumerated() {
                            (x.baseAddress! + row * blockSize).update(from: source.baseAddress! + start, count: blockSize)
                            (y.baseAddress! + row * blockSize).update(from: source.baseAddress! + start + 1, count: blockSize)
                        }
                    }
                }
            }
        }
    }
}
