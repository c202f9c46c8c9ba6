import Foundation
import TestSupport
import XCTest

/// `gpt-dist bench`, run as a user would run it, on a shape small enough for a debug build.
final class BenchCommandTests: XCTestCase {
    /// 2 layers, 2 heads, C 16, 4 sequences of 64 tokens: on 2 threads, two slices of two
    /// sequences whose attention products run in two causal row blocks.
    private let shape = ["--n-layer", "2", "--n-head", "2", "--n-embd", "16", "--block-size", "64",
                         "--batch-size", "4", "--vocab-size", "11", "--iters", "2", "--warmup", "1"]

    func testBenchReportsEveryFigureAndTheStepsMatrixProducts() throws {
        let result = try runProduct("gpt-dist", ["bench"] + shape + ["--threads", "2"])
        XCTAssertEqual(result.status, 0, result.output)
        for line in ["ms/iter", "cpu ms/iter", "tokens/s", "GFLOP/s", "sgemm peak", "MFU", "peak RSS"] {
            XCTAssertTrue(result.stdout.contains("\n\(line) "), "missing \(line): \(result.output)")
        }
        XCTAssertTrue(result.stdout.contains("threads      2 (batch split across threads"), result.output)
        // Per slice: forward 2 × (4 Linear + 2 heads × 2 sequences × 2 products × 2 blocks) + lm_head,
        // backward lm_head's 2 + 2 × (8 + 2 × 2 × 4 products × 2 blocks): 123; two slices.
        XCTAssertTrue(result.stdout.contains("sgemm only") && result.stdout.contains("the step's 246 sgemm calls"),
                      result.output)
    }

    func testOneThreadSaysTheReplayNeedsASplitBatch() throws {
        let result = try runProduct("gpt-dist", ["bench"] + shape + ["--threads", "1"])
        XCTAssertEqual(result.status, 0, result.output)
        XCTAssertTrue(result.stdout.contains("sgemm only   (measured when the batch is split across threads)"),
                      result.output)
    }

    func testBadShapeIsOneClearLine() throws {
        let result = try runProduct("gpt-dist", ["bench", "--n-embd", "10", "--n-head", "4"])
        XCTAssertNotEqual(result.status, 0, result.output)
        XCTAssertTrue(result.stderr.contains("n_embd 10 is not divisible by n_head 4"), result.output)
        XCTAssertEqual(result.stderr.split(separator: "\n").count, 1, result.output)
    }
}
