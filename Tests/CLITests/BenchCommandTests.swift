import Foundation
import GPT
import TestSupport
import XCTest

/// `gpt-dist bench`, run as a user would run it, on a shape small enough for a debug build.
final class BenchCommandTests: XCTestCase {
    /// 2 layers, 2 heads, C 16, 4 sequences of 64 tokens: on 2 threads, two slices of two
    /// sequences.
    private let shape = ["--n-layer", "2", "--n-head", "2", "--n-embd", "16", "--block-size", "64",
                         "--batch-size", "4", "--vocab-size", "11", "--iters", "2", "--warmup", "1"]

    func testBenchReportsEveryFigureAndTheStepsMatrixProducts() throws {
        let result = try runProduct("gpt-dist", ["bench"] + shape + ["--threads", "2"])
        XCTAssertEqual(result.status, 0, result.output)
        for line in ["ms/iter", "cpu ms/iter", "tokens/s", "GFLOP/s", "sgemm peak", "MFU", "peak RSS"] {
            XCTAssertTrue(result.stdout.contains("\n\(line) "), "missing \(line): \(result.output)")
        }
        XCTAssertTrue(result.stdout.contains("threads      2 (batch split across threads"), result.output)
        // Per slice: forward 2 × 4 Linear + lm_head, backward lm_head's 2 + 2 × 8 Linear: 27; two
        // slices. Attention's tile products are the fused kernel's own, not sgemm calls.
        XCTAssertTrue(result.stdout.contains("sgemm only") && result.stdout.contains("the step's 54 sgemm calls"),
                      result.output)
    }

    /// With LoRA the step trains the adapters alone: no base weight gradient is computed, so
    /// each Linear's backward is one product (its input gradient) and each adapter adds two in
    /// forward and four in backward.
    func testBenchWithLoRATrainsTheAdaptersAlone() throws {
        let result = try runProduct("gpt-dist", ["bench"] + shape + ["--threads", "2", "--lora-rank", "2", "--lora-alpha", "4"])
        XCTAssertEqual(result.status, 0, result.output)
        // Two blocks × (A [2, 16] + B [48, 2]) on c_attn.
        XCTAssertTrue(result.stdout.contains("lora         rank 2, alpha 4.0 on c_attn: 256 trainable parameters, the base frozen"),
                      result.output)
        // Per slice: forward 2 × (4 Linear + 2 adapter) + lm_head, lm_head's input gradient,
        // 2 × (4 Linear input gradients + 4 adapter products): 30; two slices.
        XCTAssertTrue(result.stdout.contains("the step's 60 sgemm calls"), result.output)
        let bad = try runProduct("gpt-dist", ["bench"] + shape + ["--lora-rank", "2", "--lora-targets", "c_attn,lm_head"])
        XCTAssertNotEqual(bad.status, 0, bad.output)
        XCTAssertEqual(bad.stderr, "gpt-dist bench: error: --lora-targets: 'lm_head' is not one of c_attn, attn.c_proj, c_fc, mlp.c_proj\n", bad.output)
    }

    func testOneThreadSaysTheReplayNeedsASplitBatch() throws {
        let result = try runProduct("gpt-dist", ["bench"] + shape + ["--threads", "1"])
        XCTAssertEqual(result.status, 0, result.output)
        XCTAssertTrue(result.stdout.contains("sgemm only   (measured when the batch is split across threads)"),
                      result.output)
    }

    /// Under mpirun bench times the data-parallel step and adds its figures; the bytes are what
    /// the ring collectives send: with one bucket of the whole buffer, each rank sends all but its
    /// own part in the reduce-scatter and all but the next rank's in the allgather, the buffer's
    /// size in all.
    func testBenchUnderMPIRunPrintsTheExchangeFigures() throws {
        let result = try mpirun(np: 2, "gpt-dist", ["bench"] + shape + ["--threads", "1", "--micro-steps", "2", "--compare-single"],
                                environment: TrainTestData.environment)
        XCTAssertEqual(result.status, 0, result.output)
        XCTAssertTrue(result.stdout.contains("ranks        2 (bucket_mb 25.0, zero_stage 1, grad_reduce_dtype float32); batch 4 x 2 micro-steps per rank"),
                      result.output)
        for line in ["ms/iter", "tokens/s", "exposed comm", "bytes/rank", "efficiency", "peak RSS"] {
            XCTAssertTrue(result.stdout.contains("\n\(line) "), "missing \(line): \(result.output)")
        }
        let layout = ParameterLayout(config: GPTConfig(nLayer: 2, nHead: 2, nEmbd: 16, blockSize: 64, vocabSize: 11,
                                                       bias: true, dropout: 0))
        let megabytes = String(format: "%.2f", Double(layout.count * 4) / 1e6)
        XCTAssertTrue(result.stdout.contains("bytes/rank   \(megabytes) MB sent per rank per step"), result.output)
        // Only rank 0 prints.
        XCTAssertEqual(result.stdout.components(separatedBy: "\nms/iter ").count - 1, 1, result.output)
    }

    func testBadShapeIsOneClearLine() throws {
        let result = try runProduct("gpt-dist", ["bench", "--n-embd", "10", "--n-head", "4"])
        XCTAssertNotEqual(result.status, 0, result.output)
        XCTAssertTrue(result.stderr.contains("n_embd 10 is not divisible by n_head 4"), result.output)
        XCTAssertEqual(result.stderr.split(separator: "\n").count, 1, result.output)
    }
}
