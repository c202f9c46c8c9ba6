import XCTest
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

final class DataLoaderTests: XCTestCase {
    /// A loader over train tokens 0..<trainCount (as ids mod vocab... kept distinct: id = position)
    /// cut into shards of `shardSize`, and val tokens after them.
    func makeLoader(trainCount: Int = 1000, valCount: Int = 100, shardSize: Int = 64) throws -> (TokenLoader, [MemoryShard]) {
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

    /// The rows of every micro-step of every rank for one step, in rank-major order.
    func globalBatch(_ loader: TokenLoader, worldSize: Int, accumulation: Int, batch: Int, block: Int,
                     seed: UInt64, step: Int) throws -> [[Int32]] {
        let layout = BatchLayout(worldSize: worldSize, microStepsPerRank: accumulation, batchSize: batch)
        var rows: [[Int32]] = []
        var inputs = [Int32](repeating: -1, count: batch * block), targets = inputs
        for rank in 0..<worldSize {
            for micro in 0..<accumulation {
                try loader.trainingBatch(seed: seed, step: step, layout: layout, rank: rank, microStep: micro,
                                         blockSize: block, inputs: &inputs, targets: &targets)
                for b in 0..<batch {
                    let x = Array(inputs[(b * block)..<((b + 1) * block)])
                    let y = Array(targets[(b * block)..<((b + 1) * block)])
                    XCTAssertEqual(Array(x.dropFirst()), Array(y.dropLast()))  // targets shifted by one
                    XCTAssertEqual(y.last, x.last! + 1)
                    rows.append(x)
                }
            }
        }
        return rows
    }

    func testGlobalBatchIsIndependentOfRankCountAndRanksDoNotOverlap() throws {
        let (loader, _) = try makeLoader()
        for step in [0, 1, 17] {
            let reference = try globalBatch(loader, worldSize: 1, accumulation: 6, batch: 4, block: 16, seed: 7, step: step)
            XCTAssertEqual(reference.count, 24)
            for worldSize in [2, 3] {
                let rows = try globalBatch(loader, worldSize: worldSize, accumulation: 6 / worldSize, batch: 4,
                                           block: 16, seed: 7, step: step)
                XCTAssertEqual(rows, reference, "world size \(worldSize), step \(step)")
            }
            // No overlap: each rank reads its own sequence indices (checked on the layout) and,
            // as windows are position-valued, the rows come from those sequences' starts.
            var starts: [Int] = []
            for j in 0..<24 {
                starts.append(try loader.windowStart(split: .train, purpose: .training, seed: 7, step: step, sequence: j, blockSize: 16))
            }
            XCTAssertEqual(reference.map { Int($0[0]) }, starts)
        }
    }

    func testBatchesAreDeterministicInSeedAndStep() throws {
        let (loader, _) = try makeLoader()
        let a = try globalBatch(loader, worldSize: 1, accumulation: 2, batch: 3, block: 8, seed: 1, step: 5)
        let (other, _) = try makeLoader()
        XCTAssertEqual(a, try globalBatch(other, worldSize: 1, accumulation: 2, batch: 3, block: 8, seed: 1, step: 5))
        XCTAssertNotEqual(a, try globalBatch(loader, worldSize: 1, accumulation: 2, batch: 3, block: 8, seed: 2, step: 5))
        XCTAssertNotEqual(a, try globalBatch(loader, worldSize: 1, accumulation: 2, batch: 3, block: 8, seed: 1, step: 6))
    }

    func testWindowsSpanShardBoundariesAndReadOnlyWhatTheyNeed() throws {
        let (loader, shards) = try makeLoader(trainCount: 1000, valCount: 100, shardSize: 10)
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
        // Random windows of block 32 over shards of 10 always cross boundaries.
        let rows = try globalBatch(loader, worldSize: 1, accumulation: 1, batch: 8, block: 32, seed: 3, step: 0)
        for row in rows { XCTAssertEqual(row, (0..<32).map { row[0] + Int32($0) }) }
    }

    func testStartsCoverTheWholeSplitUniformly() throws {
        let (loader, _) = try makeLoader(trainCount: 40, valCount: 10, shardSize: 7)
        var seen = Set<Int>()
        for j in 0..<2000 {
            seen.insert(try loader.windowStart(split: .train, purpose: .training, seed: 9, step: 0, sequence: j, blockSize: 8))
        }
        XCTAssertEqual(seen, Set(0...31))  // N - T - 1 = 31, as torch.randint(len(data) - block_size)
    }

    func testEvalWindowsAreEveryNonOverlappingWindowAcrossRanks() throws {
        let (loader, _) = try makeLoader(trainCount: 1000, valCount: 100, shardSize: 13)
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
                    XCTAssertEqual(Array(x[(row * block)..<((row + 1) * block)]), (0..<block).map { Int32(1000 + i * block + $0) })
                    XCTAssertEqual(Array(y[(row * block)..<((row + 1) * block)]), (0..<block).map { Int32(1001 + i * block + $0) })
                    firsts.append(x[row * block])
                }
            }
            XCTAssertEqual(firsts, (0..<count).map { Int32(1000 + $0 * block) })
        }
        var x = [Int32](repeating: 0, count: 16), y = x
        XCTAssertThrowsError(try loader.evalBatch(split: .val, windows: 11..<13, blockSize: block, inputs: &x, targets: &y))
    }

    func testEvaluationStreamIsSeparateFromTrainingAndIndependentOfRanks() throws {
        let (loader, _) = try makeLoader()
        var x = [Int32](repeating: 0, count: 6 * 8), y = x
        try loader.randomBatch(split: .val, purpose: .evaluation, seed: 1, step: 0, sequences: 0..<6, blockSize: 8, inputs: &x, targets: &y)
        var halves: [Int32] = []
        for share in [0..<3, 3..<6] {
            var hx = [Int32](repeating: 0, count: 3 * 8), hy = hx
            try loader.randomBatch(split: .val, purpose: .evaluation, seed: 1, step: 0, sequences: share, blockSize: 8, inputs: &hx, targets: &hy)
            halves += hx
        }
        XCTAssertEqual(halves, x)
        XCTAssertTrue(x.allSatisfy { $0 >= 1000 && $0 < 1100 })
        var t = [Int32](repeating: 0, count: 6 * 8)
        try loader.randomBatch(split: .val, purpose: .training, seed: 1, step: 0, sequences: 0..<6, blockSize: 8, inputs: &t, targets: &y)
        XCTAssertNotEqual(t, x)
    }

    func testTooShortSplitAndSmallBuffersAreErrors() throws {
        let (loader, _) = try makeLoader(trainCount: 100, valCount: 8, shardSize: 50)
        var x = [Int32](repeating: 0, count: 64), y = x
        XCTAssertThrowsError(try loader.randomBatch(split: .val, purpose: .evaluation, seed: 0, step: 0, sequences: 0..<1,
                                                    blockSize: 8, inputs: &x, targets: &y)) { error in
            XCTAssertEqual("\(error)", "memory: the val split has 8 tokens, too few for block size 8 (needs at least 9)")
        }
        var small = [Int32](repeating: 0, count: 10)
        XCTAssertThrowsError(try loader.randomBatch(split: .train, purpose: .training, seed: 0, step: 0, sequences: 0..<2,
                                                    blockSize: 8, inputs: &small, targets: &y))
    }
}
