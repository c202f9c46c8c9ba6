import XCTest
@testable import GPT

final class DataSamplingTests: XCTestCase {
    func testStartsAreInRangeDeterministicAndSpread() {
        let sampler = WindowSampler(seed: 1337)
        var seen = Set<Int>()
        for j in 0..<5000 {
            let s = sampler.start(split: .train, purpose: .training, step: 3, sequence: j, tokenCount: 110, blockSize: 8)
            XCTAssertTrue((0...101).contains(s))
            XCTAssertEqual(s, WindowSampler(seed: 1337).start(split: .train, purpose: .training, step: 3, sequence: j, tokenCount: 110, blockSize: 8))
            seen.insert(s)
        }
        XCTAssertEqual(seen.count, 102)  // every start 0...N-T-1 reachable
    }

    func testStreamsDifferBySeedSplitPurposeStepAndSequence() {
        let a = WindowSampler(seed: 1), b = WindowSampler(seed: 2)
        let base = a.hash(split: .train, purpose: .training, step: 0, sequence: 0)
        XCTAssertNotEqual(base, b.hash(split: .train, purpose: .training, step: 0, sequence: 0))
        XCTAssertNotEqual(base, a.hash(split: .val, purpose: .training, step: 0, sequence: 0))
        XCTAssertNotEqual(base, a.hash(split: .train, purpose: .evaluation, step: 0, sequence: 0))
        XCTAssertNotEqual(base, a.hash(split: .train, purpose: .training, step: 1, sequence: 0))
        XCTAssertNotEqual(base, a.hash(split: .train, purpose: .training, step: 0, sequence: 1))
    }

    func testLayoutUnionOverRanksIsTheSingleRankBatchWithoutOverlap() {
        for accumulation in [1, 2, 3] {
            for worldSize in [1, 2, 3] {
                let layout = BatchLayout(worldSize: worldSize, microStepsPerRank: accumulation, batchSize: 4)
                let single = BatchLayout(worldSize: 1, microStepsPerRank: worldSize * accumulation, batchSize: 4)
                XCTAssertEqual(layout.globalBatch, single.globalBatch)
                var covered: [Int] = []
                for rank in 0..<worldSize {
                    for micro in 0..<accumulation {
                        let range = layout.sequences(rank: rank, microStep: micro)
                        XCTAssertEqual(range, single.sequences(rank: 0, microStep: rank * accumulation + micro))
                        covered += range
                    }
                }
                XCTAssertEqual(covered.sorted(), Array(0..<layout.globalBatch))
            }
        }
    }

    func testEvalWindowCountAndSharesCoverEveryWindowOnce() {
        XCTAssertEqual(EvalWindows.count(tokenCount: 17, blockSize: 4), 4)  // needs 4*4+1 tokens
        XCTAssertEqual(EvalWindows.count(tokenCount: 16, blockSize: 4), 3)
        XCTAssertEqual(EvalWindows.count(tokenCount: 1, blockSize: 4), 0)
        for worldSize in 1...4 {
            var all: [Int] = []
            for rank in 0..<worldSize { all += EvalWindows.share(of: 10, rank: rank, worldSize: worldSize) }
            XCTAssertEqual(all, Array(0..<10))
        }
        XCTAssertEqual(EvalWindows.share(of: 10, rank: 2, worldSize: 3), 7..<10)
    }
}
