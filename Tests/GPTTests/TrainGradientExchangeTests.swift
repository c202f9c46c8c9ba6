import Parallel
import TestSupport
import XCTest
@testable import GPT

/// The plan of the data-parallel exchange: shards that tile the buffer, buckets of whole tensors
/// in backward order, AdamW over shards equal to AdamW over the whole buffer bit for bit, and
/// moments written part by part equal to moments written whole. (The collectives themselves run
/// in the mpirun tests: parallel-check, and `gpt-dist train` across rank counts and settings.)
final class TrainGradientExchangeTests: XCTestCase {
    func testPartsTileABucketOnCacheLineBoundaries() {
        for (range, ranks) in [(0..<1000, 2), (32..<1032, 3), (16..<33, 4), (0..<5, 3), (0..<812_672, 2), (48..<812_720, 7)] {
            let parts = GradientExchange.parts(of: range, ranks: ranks)
            XCTAssertEqual(parts.count, ranks)
            XCTAssertEqual(parts.first?.lowerBound, range.lowerBound)
            XCTAssertEqual(parts.last?.upperBound, range.upperBound)
            for r in 1..<ranks {
                XCTAssertEqual(parts[r].lowerBound, parts[r - 1].upperBound, "\(range) over \(ranks)")
                if parts[r].lowerBound < range.upperBound { XCTAssertEqual((parts[r].lowerBound - range.lowerBound) % 16, 0) }
            }
            let sizes = parts.map(\.count)
            XCTAssertLessThanOrEqual(sizes.max()! - sizes.min()!, 16, "\(range) over \(ranks): \(sizes)")
        }
    }

    func testBucketsAreWholeTensorsFromTheBack() throws {
        let layout = ParameterLayout(config: GPTConfig(nLayer: 3, nHead: 2, nEmbd: 16, blockSize: 8, vocabSize: 50,
                                                       bias: true, dropout: 0))
        let offsets = Set(layout.tensors.map(\.offset))
        for elements in [0, 1, 300, 1000, 5000, layout.count] {
            let buckets = GradientExchange.buckets(layout: layout, elements: elements)
            // Backward order: from the end of the buffer down to 0, no gap, no overlap.
            XCTAssertEqual(buckets.first?.upperBound, layout.count)
            XCTAssertEqual(buckets.last?.lowerBound, 0)
            for k in 1..<buckets.count { XCTAssertEqual(buckets[k].upperBound, buckets[k - 1].lowerBound) }
            XCTAssertTrue(buckets.allSatisfy { offsets.contains($0.lowerBound) }, "buckets start at tensors")
            if elements == 0 || elements >= layout.count {
                XCTAssertEqual(buckets, [0..<layout.count], "one bucket")
            } else {
                // A tensor of `elements` or more is a bucket of its own. Every other bucket but the
                // last (the embeddings' end) reaches the requested size unless a big tensor comes
                // next, and is no bigger than needed: dropping its first tensor would make it too small.
                let big = Set(layout.tensors.filter { $0.count >= elements }.map(\.range))
                for tensor in big { XCTAssertTrue(buckets.contains(tensor), "\(tensor) alone") }
                for (k, bucket) in buckets.enumerated().dropLast() where !big.contains(bucket) {
                    XCTAssertTrue(bucket.count >= elements || big.contains(buckets[k + 1]), "\(bucket) for \(elements)")
                    guard let next = layout.tensors.first(where: { $0.offset > bucket.lowerBound })?.offset,
                          next < bucket.upperBound else { continue }  // a bucket of one tensor
                    XCTAssertLessThan(bucket.upperBound - next, elements)
                }
            }
        }
        // One bucket per tensor when every tensor is big enough.
        XCTAssertEqual(GradientExchange.buckets(layout: layout, elements: 1).count, layout.tensors.count)
    }

    func testAdamWOverShardsEqualsTheWholeStep() throws {
        let model = try makeTinyModel(bias: true)
        let count = model.layout.count
        var rng = RandomGenerator(seed: 5)
        let whole = AdamW(model: model, beta2: 0.99)
        let wholeParameters = UnsafeMutableBufferPointer<Float>.allocate(capacity: count)
        defer { wholeParameters.deallocate() }
        _ = wholeParameters.initialize(from: model.parameters)

        // Three "ranks", each with the optimizer of its shard (its third of each of several
        // buckets) and a copy of the parameters.
        let ranks = 3
        let buckets = GradientExchange.buckets(layout: model.layout, elements: 300)
        XCTAssertGreaterThan(buckets.count, 3)
        let shards = (0..<ranks).map { r in buckets.reversed().map { GradientExchange.parts(of: $0, ranks: ranks)[r] } }
        let optimizers = shards.map { AdamW(model: model, ranges: $0, beta2: 0.99) }
        XCTAssertEqual(optimizers.map(\.m.count), shards.map { $0.reduce(0) { $0 + $1.count } }, "moments of the shard only")
        var covered = [Int](repeating: 0, count: count)
        for shard in shards { for part in shard { for i in part { covered[i] += 1 } } }
        XCTAssertEqual(Set(covered), [1], "the shards cover the buffer once")
        let copies = (0..<ranks).map { _ -> UnsafeMutableBufferPointer<Float> in
            let p = UnsafeMutableBufferPointer<Float>.allocate(capacity: count)
            _ = p.initialize(from: model.parameters)
            return p
        }
        defer { copies.forEach { $0.deallocate() } }

        var gradients = [Float](repeating: 0, count: count)
        for step in 0..<3 {
            gradients.withUnsafeMutableBufferPointer { rng.fillNormal($0, mean: 0, std: 0.1) }
            let lr: Float = 1e-2 * Float(step + 1), scale: Float = step == 1 ? 0.5 : 1
            gradients.withUnsafeBufferPointer {
                whole.step(parameters: wholeParameters, gradients: $0, learningRate: lr, gradientScale: scale)
            }
            for r in 0..<ranks {
                gradients.withUnsafeBufferPointer {
                    optimizers[r].step(parameters: copies[r], gradients: $0, learningRate: lr, gradientScale: scale)
                }
                // Outside its shard a rank's parameters are untouched until the allgather.
                for other in 0..<ranks where other != r {
                    XCTAssertTrue(shards[other].joined().allSatisfy { step > 0 || copies[r][$0] == model.parameters[$0] })
                }
            }
            // What the allgather does: every rank takes each shard from its owner.
            for r in 0..<ranks {
                for other in 0..<ranks where other != r {
                    for i in shards[r].joined() { copies[other][i] = copies[r][i] }
                }
            }
        }
        for r in 0..<ranks {
            XCTAssertEqual(Array(copies[r]), Array(wholeParameters), "rank \(r)'s parameters")
            XCTAssertEqual(optimizers[r].stepCount, 3)
            XCTAssertTrue(Array(optimizers[r].m) == shards[r].joined().map { whole.m[$0] }, "rank \(r)'s first moments")
            XCTAssertTrue(Array(optimizers[r].v) == shards[r].joined().map { whole.v[$0] }, "rank \(r)'s second moments")
        }
        XCTAssertNotEqual(Array(wholeParameters), Array(model.parameters), "the steps moved the parameters")
    }

    func testMomentsWrittenInPartsEqualMomentsWrittenWhole() throws {
        let model = try makeTinyModel(bias: true)
        let count = model.layout.count
        let optimizer = AdamW(model: model)
        var rng = RandomGenerator(seed: 9)
        rng.fillNormal(optimizer.m, mean: 0, std: 1)
        rng.fillNormal(optimizer.v, mean: 1, std: 0.1)
        let directory = try makeTemporaryDirectory("moment-parts")
        defer { try? FileManager.default.removeItem(at: directory) }
        var config = TrainConfig()
        config.n_layer = model.config.nLayer
        config.n_head = model.config.nHead
        config.n_embd = model.config.nEmbd
        config.block_size = model.config.blockSize
        config.vocab_size = model.config.vocabSize
        config.bias = true
        let whole = directory.appendingPathComponent("whole.h5").path
        try Checkpoint.write(to: whole, model: model, optimizer: optimizer, config: config, state: nil, tokenizer: nil)
        // Parts that cut tensors mid-row and mid-way, handed over out of order.
        for ranks in [2, 3, 7] {
            let parts = directory.appendingPathComponent("parts-\(ranks).h5").path
            let shards = GradientExchange.parts(of: 0..<count, ranks: ranks).map { ($0.lowerBound + 3)..<$0.upperBound }
            try Checkpoint.write(to: parts, model: model, optimizer: optimizer, config: config, state: nil, tokenizer: nil,
                                 moments: { write in
                                     for shard in shards.reversed() + shards.map({ ($0.lowerBound - 3)..<$0.lowerBound }) {
                                         try write(shard, UnsafeBufferPointer(rebasing: optimizer.m[shard]),
                                                   UnsafeBufferPointer(rebasing: optimizer.v[shard]))
                                     }
                                 })
            let a = try Checkpoint.read(path: whole).optimizer!, b = try Checkpoint.read(path: parts).optimizer!
            XCTAssertTrue(a == b, "\(ranks) parts give other moments than the whole")
            for tensor in model.layout.tensors {
                XCTAssertTrue(Array(a.m[tensor.range]) == Array(optimizer.m[tensor.range])
                              && Array(a.v[tensor.range]) == Array(optimizer.v[tensor.range]),
                              tensor.name)
            }
        }
    }

    /// Ranks as threads running the trainer's step: every exchange gives every rank the same
    /// parameters, those of one rank running the whole batch as micro-steps, including the path
    /// where wte's lookup rows travel apart after backward (a vocabulary large beside the batch).
    func testThreadRanksMatchOneRankWithEveryExchange() throws {
        let config = GPTConfig(nLayer: 2, nHead: 2, nEmbd: 16, blockSize: 8, vocabSize: 512, bias: true, dropout: 0)
        let batch = 2, t = 8, steps = 3
        func tokens(_ microStep: Int, _ step: Int) -> (inputs: [Int32], targets: [Int32]) {
            (randomTokens(batch * t, vocab: 512, seed: UInt64(100 * step + microStep)),
             randomTokens(batch * t, vocab: 512, seed: UInt64(100 * step + microStep + 50)))
        }
        func train(_ communicator: any Communicator, settings: GradientExchange.Settings, microSteps: Int,
                   threads: Int = 1) throws -> (parameters: [Float], defers: Bool) {
            let model = try GPTModel(config: config, seed: 3, threads: threads)
            let step = DataParallelStep(model: model, communicator: communicator, settings: settings, beta2: 0.99)
            for s in 0..<steps {
                _ = try step.run(microSteps: microSteps, lossScale: 1 / Float(microSteps * communicator.size),
                                 learningRate: 1e-2, maxGradNorm: 1, microStep: { a in
                                     let (x, y) = tokens(communicator.rank * microSteps + a, s)
                                     try model.forward(inputs: x, targets: y, batchSize: batch, sequenceLength: t)
                                 }, scalars: { [] })
            }
            try step.exchange.finishParameters()
            return (Array(model.parameters), step.exchange.defersTokenRows)
        }
        for ranks in [2, 3] {
            let one = try train(LocalCommunicator(), settings: GradientExchange.Settings(), microSteps: ranks).parameters
            for settings in [GradientExchange.Settings(bucketElements: 500, zeroStage: 1),
                             GradientExchange.Settings(bucketElements: 500, zeroStage: 0),
                             GradientExchange.Settings(bucketElements: 0, zeroStage: 1)] {
                let results = ThreadRanks.run(size: ranks) { try train($0, settings: settings, microSteps: 1) }
                let parameters = try results.map { try $0.get() }
                XCTAssertEqual(parameters[0].defers, settings.bucketElements > 0, "\(ranks) ranks, \(settings)")
                for r in 1..<ranks { XCTAssertTrue(parameters[r].parameters == parameters[0].parameters, "replica \(r)") }
                let difference = zip(parameters[0].parameters, one).reduce(Float(0)) { max($0, abs($1.0 - $1.1)) }
                // Sums in another order: the last bits of gradients near zero differ, and AdamW's
                // first steps (m / √v) turn them into parameter differences of ~1e-5.
                XCTAssertLessThan(difference, 5e-5, "\(ranks) ranks, \(settings)")
                XCTAssertFalse(parameters[0].parameters == (try GPTModel(config: config, seed: 3, threads: 1)).parameters.map { $0 })
            }
            // Two threads per rank: the batch of 2 is split, ranges are summed and announced as
            // both slices finish them.
            let split = ThreadRanks.run(size: ranks) {
                try train($0, settings: GradientExchange.Settings(bucketElements: 500, zeroStage: 1), microSteps: 1, threads: 2)
            }
            let splitParameters = try split.map { try $0.get().parameters }
            for r in 1..<ranks { XCTAssertTrue(splitParameters[r] == splitParameters[0], "split replica \(r)") }
            let difference = zip(splitParameters[0], one).reduce(Float(0)) { max($0, abs($1.0 - $1.1)) }
            XCTAssertLessThan(difference, 5e-5, "\(ranks) ranks of 2 threads")
        }
    }

    /// A batch split across threads announces ln_f, each block from the last, then the
    /// embeddings, each once its slices' sums are in place: the gradients are those of the same
    /// backward without a listener, bit for bit.
    func testSplitBackwardAnnouncesSummedRangesInOrder() throws {
        let config = GPTConfig(nLayer: 3, nHead: 2, nEmbd: 16, blockSize: 8, vocabSize: 40, bias: true, dropout: 0)
        let x = randomTokens(32, vocab: 40, seed: 1), y = randomTokens(32, vocab: 40, seed: 2)
        func gradients(listening: Bool) throws -> (gradients: [Float], ranges: [Range<Int>], sums: [Float]) {
            let model = try GPTModel(config: config, seed: 5, threads: 2)
            var ranges: [Range<Int>] = [], sums: [Float] = []
            if listening {
                model.gradientsFinal = { range in
                    ranges.append(range)
                    sums.append(model.gradients[range].reduce(0, +))  // read as announced
                }
            }
            model.zeroGradients()
            try model.forward(inputs: x, targets: y, batchSize: 4, sequenceLength: 8)
            model.backward()
            return (Array(model.gradients), ranges, sums)
        }
        let quiet = try gradients(listening: false), heard = try gradients(listening: true)
        XCTAssertTrue(heard.gradients == quiet.gradients, "announcing changes no gradient")
        let layout = ParameterLayout(config: config)
        var expected = [layout.blockStart(3)..<layout.count]
        for l in stride(from: 2, through: 0, by: -1) { expected.append(layout.blockStart(l)..<layout.blockStart(l + 1)) }
        expected.append(0..<layout.blockStart(0))
        XCTAssertEqual(heard.ranges, expected)
        // What the listener read when told was already the final sum of both slices.
        XCTAssertEqual(heard.sums, expected.map { quiet.gradients[$0].reduce(0, +) })
    }

    func testSumOfSquaresIsTheNormSquared() {
        let values: [Float] = (0..<10_000).map { Float($0 % 97) * 0.01 - 0.4 }
        let expected = values.reduce(0.0) { $0 + Double($1) * Double($1) }
        values.withUnsafeBufferPointer {
            XCTAssertEqual(GradientClipping.sumOfSquares($0, threads: 2), expected, accuracy: expected * 1e-6)
            XCTAssertEqual(GradientClipping.globalNorm($0, threads: 2), Float(expected.squareRoot()),
                           accuracy: Float(expected.squareRoot()) * 1e-6)
        }
    }
}
