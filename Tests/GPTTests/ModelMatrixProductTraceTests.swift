import XCTest
@testable import GPT

/// `timeMatrixProducts`, behind `gpt-dist bench`'s "sgemm only" line: the trace must hold every
/// sgemm of a step, once, in the slice that made it.
final class ModelMatrixProductTraceTests: XCTestCase {
    /// A step of 2 layers, 2 heads, 4 sequences of 64 tokens on 2 threads: two slices of two
    /// sequences. Counts and FLOPs worked out by hand. Attention is the fused kernel, not sgemm,
    /// so it is not in the trace.
    func testTraceHoldsEveryProductOfAStepOncePerSlice() throws {
        let (layers, heads, c, t, v, batch) = (2, 2, 16, 64, 11, 4)
        let config = GPTConfig(nLayer: layers, nHead: heads, nEmbd: c, blockSize: t, vocabSize: v, bias: true,
                               dropout: 0)
        let model = try GPTModel(config: config, seed: 3, threads: 2)
        let inputs = randomTokens(batch * t, vocab: v, seed: 1), targets = randomTokens(batch * t, vocab: v, seed: 2)

        var loss: Float = 0
        let trace = try MatrixProductTrace.record {
            model.zeroGradients()
            loss = try model.forward(inputs: inputs, targets: targets, batchSize: batch, sequenceLength: t)
            model.backward()
        }
        XCTAssertFalse(trace.hasUnslicedCalls)
        XCTAssertEqual(trace.lanes.count, 2)

        // Per slice: forward: per layer c_attn, attn.c_proj, c_fc, mlp.c_proj; then lm_head and
        // its two backward products (run in forward, chunk by chunk: one chunk here). backward:
        // per layer two per Linear.
        let perSlice = layers * 4 + 1 + 2 + layers * 8
        XCTAssertEqual(trace.lanes.map(\.count), [perSlice, perSlice])

        // FLOPs: Linear layers 3 × 2·rows·(12C²) per layer and 3 × 2·rows·C·V for lm_head.
        let rows = Double(batch * t)
        let linear = 3 * 2 * rows * (12 * Double(c * c) * Double(layers) + Double(c * v))
        XCTAssertEqual(trace.flops, linear, accuracy: 0.5)

        // Recording does not change the step.
        model.zeroGradients()
        let again = try model.forward(inputs: inputs, targets: targets, batchSize: batch, sequenceLength: t)
        XCTAssertEqual(again, loss)
        XCTAssertFalse(isRecordingMatrixProducts)

        let timed = try XCTUnwrap(model.timeMatrixProducts(of: {
            _ = try model.forward(inputs: inputs, targets: targets, batchSize: batch, sequenceLength: t)
            model.backward()
        }, repeats: 2))
        XCTAssertEqual(timed.calls, 2 * perSlice)
        XCTAssertEqual(timed.flops, linear, accuracy: 0.5)
        XCTAssertGreaterThan(timed.seconds, 0)
    }

    /// A batch run kernel by kernel (one thread here) has calls no replay reproduces faithfully.
    func testUnsplitStepIsNotTimed() throws {
        let model = try makeTinyModel(threads: 1)
        let inputs = randomTokens(12, vocab: 11, seed: 3), targets = randomTokens(12, vocab: 11, seed: 4)
        let timed = try model.timeMatrixProducts(of: {
            _ = try model.forward(inputs: inputs, targets: targets, batchSize: 2, sequenceLength: 6)
            model.backward()
        })
        XCTAssertNil(timed)
    }
}
