/// Reads any range of one split's token stream from its shards, crossing shard boundaries as
/// needed; only the requested tokens are read.
protocol ShardTokenSource: AnyObject {
    /// Tokens in the shard.
    var tokenCount: Int { get }
    /// Reads tokens `range` of the shard, widened to Int32, into `target[0..<range.count]`.
    func read(_ range: Range<Int>, into target: UnsafeMutablePointer<Int32>) throws
}

/// The shards of one split in order, with the position of each one's first token.
final class SplitReader {
    let shards: [ShardTokenSource]
    /// starts[i] = tokens before shard i; starts.last = total.
    let starts: [Int]

    init(shards: [ShardTokenSource]) {
        self.shards = shards
        var starts = [0]
        for shard in shards { starts.append(starts.last! + shard.tokenCount) }
        self.starts = starts
    }

    var tokenCount: Int { starts.last! }

    /// Reads split tokens `start ..< start + count` into `target`.
    func read(start: Int, count: Int, into target: UnsafeMutablePointer<Int32>) throws {
        precondition(start >= 0 && count >= 0 && start + count <= tokenCount, "token range outside the split")
        var position = start
        var written = 0
        var shard = shardIndex(containing: start)
        while written < count {
            let local = position - starts[shard]
            let take = min(count - written, shards[shard].tokenCount - local)
            if take > 0 {
                try shards[shard].read(local..<(local + take), into: target + written)
                written += take
                position += take
            }
            shard += 1
        }
    }

    /// The shard that holds token `position` (binary search over the starts).
    func shardIndex(containing position: Int) -> Int {
        var low = 0, high = shards.count - 1
        while low < high {
            let mid = (low + high + 1) / 2
            if starts[mid] <= position { low = mid } else { high = mid - 1 }
        }
        return low
    }
}
