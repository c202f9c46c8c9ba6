@testable import GPT

/// An in-memory shard, so the window logic is tested apart from HDF5.
final class MemoryShard: ShardTokenSource {
    let tokens: [Int32]
    var reads: [Range<Int>] = []
    init(_ tokens: [Int32]) { self.tokens = tokens }
    var tokenCount: Int { tokens.count }
    func read(_ range: Range<Int>, into target: UnsafeMutablePointer<Int32>) throws {
        reads.append(range)
        for (k, i) in range.enumerated() { target[k] = tokens[i] }
    }
}

/// A loader (directory "memory") whose tokens are their positions: train tokens
/// `0..<trainCount`, then val tokens `trainCount..<trainCount + valCount`, cut into shards of
/// `shardSize`. A window's first input is therefore where it starts (plus `trainCount` in val).
func makeMemoryLoader(trainCount: Int = 1000, valCount: Int = 100, shardSize: Int = 64) throws -> (TokenLoader, [MemoryShard]) {
    func shards(_ range: Range<Int>) -> [MemoryShard] {
        stride(from: range.lowerBound, to: range.upperBound, by: shardSize).map { lower in
            MemoryShard((lower..<min(lower + shardSize, range.upperBound)).map { Int32($0) })
        }
    }
    let train = shards(0..<trainCount), val = shards(trainCount..<(trainCount + valCount))
    let info = DatasetInfo(id: "test", tokenizer: try CharTokenizer(vocabulary: "ab"), width: .uint16,
                           trainTokens: trainCount, valTokens: valCount, trainShards: train.count,
                           valShards: val.count, shardTokens: shardSize, sourceFiles: ["memory"])
    let loader = TokenLoader(directory: "memory", info: info,
                             splits: [.train: SplitReader(shards: train), .val: SplitReader(shards: val)])
    return (loader, train + val)
}

/// Row `row` of a row-major [rows, block] batch.
func batchRow(_ batch: [Int32], _ row: Int, block: Int) -> [Int32] {
    Array(batch[(row * block)..<((row + 1) * block)])
}
