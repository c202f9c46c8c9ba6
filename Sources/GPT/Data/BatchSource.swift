import Foundation

/// Where `BatchStream`'s windows are read from: the dataset's shards (`TokenLoader`, hyperslab
/// reads per window), or, when both splits are small, a copy of the splits held in memory, which
/// saves an HDF5 read per sequence. Both give exactly the tokens of the shards, so the choice
/// never changes a number.
///
/// It reads the windows it is given without checking them again: its starts come from
/// `BatchStream`, which draws them inside the split (the stream checks the split against the
/// block size once, when it is made). `TokenLoader.windows` is the checked way in for starts
/// from anywhere else.
final class BatchSource {
    let loader: TokenLoader
    /// Whole splits in memory, or nil to read from the shards.
    private let splits: [DataSplit: [Int32]]?

    /// Splits together up to this many tokens are held in memory (4 bytes each): 64M tokens,
    /// 256 MiB; with `GPT_DIST_STREAM_DATA` set, none (always read from the shards).
    static var defaultMemoryLimit: Int {
        ProcessInfo.processInfo.environment["GPT_DIST_STREAM_DATA"] == nil ? 64 << 20 : -1
    }

    /// Windows of `loader`'s splits, held in memory when the two splits together have at most
    /// `memoryLimit` tokens.
    init(loader: TokenLoader, memoryLimit: Int = BatchSource.defaultMemoryLimit) throws {
        self.loader = loader
        let total = loader.tokenCount(.train) + loader.tokenCount(.val)
        guard total <= memoryLimit else {
            splits = nil
            return
        }
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

    /// Number of tokens in `split`.
    func tokenCount(_ split: DataSplit) -> Int { loader.tokenCount(split) }

    /// Makes `inputs` and `targets` `starts.count × blockSize` tokens (row-major) and fills row
    /// `i` with the window at `starts[i]`: inputs tokens `[s, s + T)`, targets `[s + 1, s + T + 1)`.
    /// Every start must be in `0...tokenCount(split) - blockSize - 1` (`BatchStream` draws them so).
    func read(_ split: DataSplit, starts: ArraySlice<Int>, blockSize: Int,
              inputs: inout [Int32], targets: inout [Int32]) throws {
        let count = starts.count * blockSize
        if inputs.count != count { inputs = [Int32](repeating: 0, count: count) }
        if targets.count != count { targets = [Int32](repeating: 0, count: count) }
        try inputs.withUnsafeMutableBufferPointer { x in
            try targets.withUnsafeMutableBufferPointer { y in
                guard let tokens = splits?[split] else {
                    return try loader.readWindows(split, starts: starts, blockSize: blockSize, inputs: x, targets: y)
                }
                tokens.withUnsafeBufferPointer { source in
                    for (row, start) in starts.enumerated() {
                        (x.baseAddress! + row * blockSize).update(from: source.baseAddress! + start, count: blockSize)
                        (y.baseAddress! + row * blockSize).update(from: source.baseAddress! + start + 1, count: blockSize)
                    }
                }
            }
        }
    }
}
