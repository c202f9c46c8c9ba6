import XCTest
@testable import GPT

/// Which sequences of a step each rank reads (`BatchLayout`), as numbers; `DataBatchStreamTests`
/// checks the same properties on the windows the stream reads.
final class DataBatchLayoutTests: XCTestCase {
    func testLayoutUnionOverRanksIsTheSingleRankBatchWithoutOverlap() throws {
        for accumulation in [1, 2, 3] {
            for worldSize in [1, 2, 3] {
                let layout = try BatchLayout(worldSize: worldSize, microStepsPerRank: accumulation, batchSize: 4)
                let single = try BatchLayout(worldSize: 1, microStepsPerRank: worldSize * accumulation, batchSize: 4)
                XCTAssertEqual(layout.globalBatch, single.globalBatch)
                XCTAssertEqual(layout.globalBatch, worldSize * accumulation * 4)
                var covered: [Int] = []
                for rank in 0..<worldSize {
                    for micro in 0..<accumulation {
                        let range = try layout.sequences(rank: rank, microStep: micro)
                        XCTAssertEqual(range, try single.sequences(rank: 0, microStep: rank * accumulation + micro))
                        covered += range
                    }
                }
                XCTAssertEqual(covered, Array(0..<layout.globalBatch))  // rank-major, each sequence once
            }
        }
    }

    func testEvaluationSequencesAreEachRanksBatchOfABlock() throws {
        let layout = try BatchLayout(worldSize: 3, microStepsPerRank: 2, batchSize: 4)
        XCTAssertEqual(try (0..<3).map { try layout.evaluationSequences(rank: $0) }, [0..<4, 4..<8, 8..<12])
    }

    func testBadCountsRanksAndMicroStepsAreErrors() throws {
        for (n, a, b) in [(0, 1, 1), (1, 0, 1), (1, 1, 0), (-2, 1, 1)] {
            XCTAssertThrowsError(try BatchLayout(worldSize: n, microStepsPerRank: a, batchSize: b)) { error in
                XCTAssertEqual(error as? DataError, .invalidRequest(
                    "a batch layout needs at least one rank, micro-step and sequence (got \(n) ranks, \(a) micro-steps, batch size \(b))"))
            }
        }
        let layout = try BatchLayout(worldSize: 2, microStepsPerRank: 3, batchSize: 4)
        for (rank, micro) in [(2, 0), (-1, 0), (0, 3), (1, -1)] {
            XCTAssertThrowsError(try layout.sequences(rank: rank, microStep: micro))
        }
        XCTAssertThrowsError(try layout.evaluationSequences(rank: 2)) { error in
            XCTAssertEqual("\(error)", "rank 2 is outside the 2 ranks of the batch layout")
        }
    }
}
