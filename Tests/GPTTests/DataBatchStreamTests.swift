import XCTest
@testable import GPT

/// The trainer's batch path, `BatchStream` → `BatchLayout` → `BatchSource` → `TokenLoader`, on
/// position-valued tokens (`makeMemoryLoader`), so every row tells where its window starts.
final class DataBatchStreamTests: XCTestCase {
    func makeStream(_ loader: TokenLoader, worldSize: Int = 1, accumulation: Int = 1, batch: Int, block: Int,
                    evalIters: Int = 0, seed: UInt64, memoryLimit: Int = 0) throws -> BatchStream {
        try BatchStream(source: BatchSource(loader: loader, memoryLimit: memoryLimit),
                        layout: BatchLayout(worldSize: worldSize, microStepsPerRank: accumulation, batchSize: batch),
                        evalIters: evalIters, blockSize: block, generator: TorchGenerator(seed: seed))
    }

    /// Checks that `x`/`y` hold `rows` windows of `block` (targets = inputs shifted by one, each
    /// window consecutive tokens) and returns the rows' inputs.
    func windows(_ x: [Int32], _ y: [Int32], rows: Int, block: Int, file: StaticString = #filePath,
                 line: UInt = #line) -> [[Int32]] {
        XCTAssertEqual(x.count, rows * block, file: file, line: line)
        XCTAssertEqual(y.count, rows * block, file: file, line: line)
        return (0..<rows).map { row in
            let inputs = batchRow(x, row, block: block), targets = batchRow(y, row, block: block)
            XCTAssertEqual(inputs, (0..<block).map { inputs[0] + Int32($0) }, file: file, line: line)
            XCTAssertEqual(targets, inputs.map { $0 + 1 }, file: file, line: line)
            return inputs
        }
    }

    /// The current step's rows over every rank and micro-step, in rank-major order.
    func globalBatch(_ stream: BatchStream) throws -> [[Int32]] {
        let layout = stream.layout
        var rows: [[Int32]] = []
        var x: [Int32] = [], y: [Int32] = []
        for rank in 0..<layout.worldSize {
            for micro in 0..<layout.microStepsPerRank {
                try stream.trainingBatch(rank: rank, microStep: micro, inputs: &x, targets: &y)
                rows += windows(x, y, rows: layout.batchSize, block: stream.blockSize)
            }
        }
        return rows
    }

    /// Starts are `torch.randint(len(data) - block_size)` drawn from the stream's generator, so
    /// every window lies inside the train split and every start `0...n - T - 1` occurs.
    func testStartsAreTorchsDrawsInsideTheSplit() throws {
        let (loader, _) = try makeMemoryLoader(trainCount: 40, valCount: 10, shardSize: 7)
        var stream = try makeStream(loader, batch: 50, block: 8, seed: 9)
        var reference = TorchGenerator(seed: 9)
        var seen = Set<Int>()
        for _ in 0..<40 {
            stream.beginIteration()
            let starts = reference.randint(40 - 8, count: 50)
            XCTAssertEqual(stream.trainStarts, starts)
            XCTAssertEqual(try globalBatch(stream).map { Int($0[0]) }, starts)
            seen.formUnion(starts)
            stream.endIteration()
        }
        XCTAssertEqual(seen, Set(0...31))  // N - T - 1 = 31: the last window's target is token 39
    }

    /// Rank r's micro-step a is micro-step r·A + a of one process: the union over ranks of a step
    /// is the one-process global batch, each sequence read by exactly one rank.
    func testGlobalBatchIsIndependentOfRankCountAndRanksDoNotOverlap() throws {
        let (loader, _) = try makeMemoryLoader()
        var single = try makeStream(loader, accumulation: 6, batch: 4, block: 16, seed: 7)
        var streams = try [2, 3, 6].map { try makeStream(loader, worldSize: $0, accumulation: 6 / $0, batch: 4, block: 16, seed: 7) }
        var reference = TorchGenerator(seed: 7)
        for step in 0..<3 {
            single.beginIteration()
            let rows = try globalBatch(single)
            XCTAssertEqual(rows.map { Int($0[0]) }, reference.randint(1000 - 16, count: 24))
            for k in streams.indices {
                streams[k].beginIteration()
                let layout = streams[k].layout
                var x: [Int32] = [], y: [Int32] = []
                for rank in 0..<layout.worldSize {
                    for micro in 0..<layout.microStepsPerRank {
                        try streams[k].trainingBatch(rank: rank, microStep: micro, inputs: &x, targets: &y)
                        let g = rank * layout.microStepsPerRank + micro
                        XCTAssertEqual(windows(x, y, rows: 4, block: 16), Array(rows[(g * 4)..<((g + 1) * 4)]),
                                       "step \(step), rank \(rank) of \(layout.worldSize), micro-step \(micro)")
                    }
                }
                XCTAssertEqual(try globalBatch(streams[k]), rows)
            }
        }
    }

    /// Same seed, same batches; another seed or the next iteration, other batches; restoring
    /// `iterationStart` (what a checkpoint saves) redraws the iteration's batch.
    func testBatchesAreDeterministicInSeedAndIterationAndResumable() throws {
        let (loader, _) = try makeMemoryLoader()
        var a = try makeStream(loader, accumulation: 2, batch: 3, block: 8, seed: 1)
        var b = try makeStream(makeMemoryLoader().0, accumulation: 2, batch: 3, block: 8, seed: 1, memoryLimit: .max)
        var c = try makeStream(loader, accumulation: 2, batch: 3, block: 8, seed: 2)
        a.beginIteration(); b.beginIteration(); c.beginIteration()
        let first = try globalBatch(a)
        XCTAssertEqual(try globalBatch(b), first)
        XCTAssertNotEqual(try globalBatch(c), first)
        let saved = a.iterationStart
        a.endIteration()
        a.beginIteration()
        let second = try globalBatch(a)
        XCTAssertNotEqual(second, first)
        a.restore(saved)
        a.beginIteration()
        XCTAssertEqual(try globalBatch(a), first)
        a.endIteration()
        a.beginIteration()
        XCTAssertEqual(try globalBatch(a), second)
    }

    /// An evaluation draws eval_iters blocks of G starts after the step's batch (train, then val);
    /// rank r's batch k is the r-th batch_size of block k, so the ranks' batches partition the
    /// block's first ranks × batch_size sequences, and runs with the same batch_size × ranks
    /// evaluate the same windows.
    func testEvaluationBatchesPartitionBlocksAcrossRanks() throws {
        let (loader, _) = try makeMemoryLoader()
        var reference = TorchGenerator(seed: 3)
        _ = reference.randint(1000 - 8, count: 12)  // the step's batch comes first
        let expected: [DataSplit: [Int]] = [.train: reference.randint(1000 - 8, count: 3 * 12),
                                            .val: reference.randint(100 - 8, count: 3 * 12).map { $0 + 1000 }]
        // (ranks, micro-steps, batch_size): G = 12 each time.
        for (n, a, b) in [(1, 1, 12), (2, 1, 6), (3, 1, 4), (2, 2, 3), (1, 3, 4)] {
            var stream = try makeStream(loader, worldSize: n, accumulation: a, batch: b, block: 8, evalIters: 3, seed: 3)
            stream.beginIteration()
            for split in [DataSplit.train, .val] {
                stream.drawEvaluation(split)
                for k in 0..<3 {
                    var firsts: [Int] = []
                    for rank in 0..<n {
                        var x: [Int32] = [], y: [Int32] = []
                        try stream.evaluationBatch(k, rank: rank, inputs: &x, targets: &y)
                        firsts += windows(x, y, rows: b, block: 8).map { Int($0[0]) }
                    }
                    XCTAssertEqual(firsts, Array(expected[split]![(k * 12)..<(k * 12 + n * b)]),
                                   "\(split), block \(k), \(n) ranks x \(a) micro-steps x batch \(b)")
                }
            }
        }
    }

    /// Windows cross shard boundaries; the shards and the in-memory copy give the same batches.
    func testShardAndMemorySourcesGiveTheSameWindows() throws {
        let (loader, shards) = try makeMemoryLoader(trainCount: 1000, valCount: 100, shardSize: 10)
        var fromShards = try makeStream(loader, batch: 8, block: 32, evalIters: 2, seed: 5)
        let (copied, copiedShards) = try makeMemoryLoader(trainCount: 1000, valCount: 100, shardSize: 10)
        var fromMemory = try makeStream(copied, batch: 8, block: 32, evalIters: 2, seed: 5, memoryLimit: 1100)
        XCTAssertFalse(fromShards.source.isInMemory)
        XCTAssertTrue(fromMemory.source.isInMemory)
        let readsAfterCopy = copiedShards.map(\.reads.count)
        for _ in 0..<5 {
            fromShards.beginIteration(); fromMemory.beginIteration()
            XCTAssertEqual(try globalBatch(fromShards), try globalBatch(fromMemory))
            fromShards.drawEvaluation(.val); fromMemory.drawEvaluation(.val)
            var x: [Int32] = [], y: [Int32] = [], mx: [Int32] = [], my: [Int32] = []
            try fromShards.evaluationBatch(1, rank: 0, inputs: &x, targets: &y)
            try fromMemory.evaluationBatch(1, rank: 0, inputs: &mx, targets: &my)
            XCTAssertEqual(x, mx)
            XCTAssertEqual(y, my)
            XCTAssertTrue(x.allSatisfy { $0 >= 1000 && $0 < 1100 })
            fromShards.endIteration(); fromMemory.endIteration()
        }
        XCTAssertEqual(copiedShards.map(\.reads.count), readsAfterCopy)  // no shard read after the copy
        XCTAssertGreaterThan(shards.map(\.reads.count).reduce(0, +), 5 * 8 * 3)  // 33 tokens span 4 shards of 10
    }

    func testTooShortSplitsAndBadRequestsAreErrors() throws {
        let (loader, _) = try makeMemoryLoader(trainCount: 100, valCount: 8, shardSize: 50)
        XCTAssertThrowsError(try makeStream(loader, batch: 2, block: 8, seed: 0)) { error in
            XCTAssertEqual("\(error)", "memory: the val split has 8 tokens, too few for block size 8 (needs at least 9)")
        }
        XCTAssertThrowsError(try makeStream(loader, batch: 2, block: 0, seed: 0))
        var stream = try makeStream(loader, worldSize: 2, batch: 2, block: 7, evalIters: 1, seed: 0)
        stream.beginIteration()
        var x = [Int32](repeating: 0, count: 1), y = x  // the wrong size: made batch × block
        try stream.trainingBatch(rank: 1, microStep: 0, inputs: &x, targets: &y)
        XCTAssertEqual(windows(x, y, rows: 2, block: 7).count, 2)
        XCTAssertThrowsError(try stream.trainingBatch(rank: 2, microStep: 0, inputs: &x, targets: &y)) { error in
            XCTAssertEqual("\(error)", "rank 2 is outside the 2 ranks of the batch layout")
        }
        XCTAssertThrowsError(try stream.trainingBatch(rank: 0, microStep: 1, inputs: &x, targets: &y))
        stream.drawEvaluation(.val)
        try stream.evaluationBatch(0, rank: 1, inputs: &x, targets: &y)
        XCTAssertTrue(windows(x, y, rows: 2, block: 7).allSatisfy { $0[0] == 100 })  // val's only window: 100..<107
        XCTAssertThrowsError(try stream.evaluationBatch(1, rank: 0, inputs: &x, targets: &y)) { error in
            XCTAssertEqual("\(error)", "evaluation batch 1 is outside the 1 of an evaluation")
        }
    }
}
