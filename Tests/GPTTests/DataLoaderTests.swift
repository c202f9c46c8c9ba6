import XCTest
@testable import GPT

/// `TokenLoader`'s own ways in: raw token ranges, windows at given starts (with their checks),
/// and the deterministic evaluation windows of `gpt-dist eval` (`EvalWindows`).
final class DataLoaderTests: XCTestCase {
    func testReadsSpanShardBoundariesAndReadOnlyWhatTheyNeed() throws {
        let (loader, shards) = try makeMemoryLoader(trainCount: 1000, valCount: 100, shardSize: 10)
        var buffer = [Int32](repeating: 0, count: 40)
        try loader.readTokens(.train, start: 5, count: 30, into: &buffer)
        XCTAssertEqual(Array(buffer.prefix(30)), (5..<35).map { Int32($0) })
        XCTAssertEqual(shards[0].reads, [5..<10])
        XCTAssertEqual(shards[1].reads, [0..<10])
        XCTAssertEqual(shards[3].reads, [0..<5])
        XCTAssertTrue(shards[4].reads.isEmpty)
        try loader.readTokens(.val, start: 95, count: 5, into: &buffer)
        XCTAssertEqual(Array(buffer.prefix(5)), (1095..<1100).map { Int32($0) })
        XCTAssertThrowsError(try loader.readTokens(.val, start: 96, count: 5, into: &buffer))
    }

    /// `windows` at hand-picked starts: rows are the tokens at the starts, targets shifted by one,
    /// both ends of the range of starts are allowed.
    func testWindowsAtGivenStartsReadTheirTokens() throws {
        let (loader, shards) = try makeMemoryLoader(trainCount: 100, valCount: 50, shardSize: 7)
        let block = 8
        let starts = [0, 13, 91, 40]  // 91 = 100 - 8 - 1, the last start
        var x = [Int32](repeating: -1, count: starts.count * block), y = x
        try read(loader, .train, starts, block, &x, &y)
        for (row, start) in starts.enumerated() {
            XCTAssertEqual(batchRow(x, row, block: block), (0..<block).map { Int32(start + $0) })
            XCTAssertEqual(batchRow(y, row, block: block), (0..<block).map { Int32(start + 1 + $0) })
        }
        // Only the window at 91 reaches the last two shards (tokens 91..<98, 98..<100), reading all of them.
        XCTAssertEqual(shards[13].reads, [0..<7])
        XCTAssertEqual(shards[14].reads, [0..<2])
        try read(loader, .val, [41], block, &x, &y)
        XCTAssertEqual(batchRow(x, 0, block: block), (0..<block).map { Int32(141 + $0) })
        XCTAssertEqual(batchRow(y, 0, block: block), (0..<block).map { Int32(142 + $0) })
    }

    func testWindowsRefuseBadStartsShortSplitsAndSmallBuffers() throws {
        let (loader, _) = try makeMemoryLoader(trainCount: 100, valCount: 8, shardSize: 50)
        var x = [Int32](repeating: 0, count: 64), y = x
        for bad in [-1, 92] {
            XCTAssertThrowsError(try read(loader, .train, [3, bad], 8, &x, &y)) { error in
                XCTAssertEqual("\(error)", "memory: a window of 8 + 1 tokens cannot start at \(bad) in the train split of 100 tokens")
            }
        }
        XCTAssertThrowsError(try read(loader, .val, [0], 8, &x, &y)) { error in
            XCTAssertEqual("\(error)", "memory: the val split has 8 tokens, too few for block size 8 (needs at least 9)")
        }
        var small = [Int32](repeating: 0, count: 10)
        XCTAssertThrowsError(try read(loader, .train, [0, 1], 8, &small, &y)) { error in
            XCTAssertEqual("\(error)", "batch buffers hold 10 tokens; 2 rows of block 8 need 16")
        }
    }

    func testEvalWindowCountAndSharesCoverEveryWindowOnce() {
        XCTAssertEqual(EvalWindows.count(tokenCount: 17, blockSize: 4), 4)  // needs 4*4+1 tokens
        XCTAssertEqual(EvalWindows.count(tokenCount: 16, blockSize: 4), 3)
        XCTAssertEqual(EvalWindows.count(tokenCount: 1, blockSize: 4), 0)
        XCTAssertEqual(EvalWindows.count(tokenCount: 100, blockSize: 0), 0)
        for worldSize in 1...4 {
            var all: [Int] = []
            for rank in 0..<worldSize { all += EvalWindows.share(of: 10, rank: rank, worldSize: worldSize) }
            XCTAssertEqual(all, Array(0..<10))
        }
        XCTAssertEqual(EvalWindows.share(of: 10, rank: 2, worldSize: 3), 7..<10)
        XCTAssertEqual(EvalWindows.share(of: 10, rank: 3, worldSize: 3), 0..<0)
    }

    func testEvalWindowsAreEveryNonOverlappingWindowAcrossRanks() throws {
        let (loader, _) = try makeMemoryLoader(trainCount: 1000, valCount: 100, shardSize: 13)
        let block = 8
        let count = loader.evalWindowCount(split: .val, blockSize: block)
        XCTAssertEqual(count, 12)  // (100 - 1) / 8
        for worldSize in 1...3 {
            var firsts: [Int32] = []
            for rank in 0..<worldSize {
                let share = EvalWindows.share(of: count, rank: rank, worldSize: worldSize)
                var x = [Int32](repeating: 0, count: share.count * block), y = x
                try loader.evalBatch(split: .val, windows: share, blockSize: block, inputs: &x, targets: &y)
                for (row, i) in share.enumerated() {
                    XCTAssertEqual(batchRow(x, row, block: block), (0..<block).map { Int32(1000 + i * block + $0) })
                    XCTAssertEqual(batchRow(y, row, block: block), (0..<block).map { Int32(1001 + i * block + $0) })
                    firsts.append(x[row * block])
                }
            }
            XCTAssertEqual(firsts, (0..<count).map { Int32(1000 + $0 * block) })
        }
        var x = [Int32](repeating: 0, count: 16), y = x
        XCTAssertThrowsError(try loader.evalBatch(split: .val, windows: 11..<13, blockSize: block, inputs: &x, targets: &y))
    }

    /// `TokenLoader.windows` on arrays.
    func read(_ loader: TokenLoader, _ split: DataSplit, _ starts: [Int], _ block: Int,
              _ x: inout [Int32], _ y: inout [Int32]) throws {
        try starts.withUnsafeBufferPointer { s in
            try x.withUnsafeMutableBufferPointer { xb in
                try y.withUnsafeMutableBufferPointer { yb in
                    try loader.windows(split: split, starts: s, blockSize: block, inputs: xb, targets: yb)
                }
            }
        }
    }
}
