import XCTest
@testable import GPT

/// The sharded optimizer step of multi-rank runs: shares that tile the buffer, and AdamW over
/// shares equal to AdamW over the whole buffer, bit for bit. (The collectives around it run in
/// the mpirun tests of `gpt-dist train`: rank-count invariance and resume across rank counts.)
final class TrainShardedUpdateTests: XCTestCase {
    func testSharesTileTheBufferOnCacheLineBoundaries() {
        for (count, ranks) in [(1000, 2), (1000, 3), (17, 4), (5, 3), (812_672, 2), (812_672, 7)] {
            let shares = ShardedUpdate(count: count, ranks: ranks, rank: 0).shares
            XCTAssertEqual(shares.count, ranks)
            XCTAssertEqual(shares.first?.lowerBound, 0)
            XCTAssertEqual(shares.last?.upperBound, count)
            for r in 1..<ranks {
                XCTAssertEqual(shares[r].lowerBound, shares[r - 1].upperBound, "\(count) over \(ranks)")
                if shares[r].lowerBound < count { XCTAssertEqual(shares[r].lowerBound % 16, 0) }
            }
            let sizes = shares.map(\.count)
            XCTAssertLessThanOrEqual(sizes.max()! - sizes.min()!, 16, "\(count) over \(ranks): \(sizes)")
        }
    }

    func testAdamWOverSharesEqualsTheWholeStep() throws {
        let model = try makeTinyModel(bias: true)
        let count = model.layout.count
        var rng = RandomGenerator(seed: 5)
        let whole = AdamW(model: model, beta2: 0.99)
        let wholeParameters = UnsafeMutableBufferPointer<Float>.allocate(capacity: count)
        defer { wholeParameters.deallocate() }
        _ = wholeParameters.initialize(from: model.parameters)

        // Two "ranks", each with its own optimizer and copy of the parameters.
        let ranks = 2
        let shares = ShardedUpdate(count: count, ranks: ranks, rank: 0).shares
        XCTAssertTrue(shares.allSatisfy { !$0.isEmpty })
        let optimizers = (0..<ranks).map { _ in AdamW(model: model, beta2: 0.99) }
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
                gradients[shares[r]].withUnsafeBufferPointer {
                    optimizers[r].step(parameters: copies[r], gradients: $0, learningRate: lr, gradientScale: scale,
                                       range: shares[r])
                }
                // What the allgather does: every rank takes each share from its owner.
                for other in 0..<ranks where other != r {
                    for i in shares[r] { copies[other][i] = copies[r][i] }
                }
            }
        }
        for r in 0..<ranks {
            XCTAssertEqual(Array(copies[r]), Array(wholeParameters), "rank \(r)'s parameters")
            XCTAssertEqual(optimizers[r].stepCount, 3)
            for i in shares[r] {
                XCTAssertEqual(optimizers[r].m[i], whole.m[i])
                XCTAssertEqual(optimizers[r].v[i], whole.v[i])
            }
            // Outside its share a rank's moments are untouched (what gatherMoments repairs).
            for other in 0..<ranks where other != r {
                XCTAssertTrue(shares[other].allSatisfy { optimizers[r].m[$0] == 0 && optimizers[r].v[$0] == 0 })
            }
        }
        XCTAssertNotEqual(Array(wholeParameters), Array(model.parameters), "the steps moved the parameters")
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
