import XCTest
@testable import GPT

/// The backward pass against central finite differences of the forward pass, and the gradient
/// accumulation contract (`lossScale`, no zeroing between micro-steps).
final class ModelGradientTests: XCTestCase {
    func testGradientsMatchFiniteDifferences() throws {
        for bias in [true, false] {
            let model = try makeTinyModel(bias: bias)
            let b = 2, t = 5
            let inputs = randomTokens(b * t, vocab: 11, seed: 1)
            var targets = randomTokens(b * t, vocab: 11, seed: 2)
            targets[3] = -1
            targets[7] = -1
            model.zeroGradients()
            try model.forward(inputs: inputs, targets: targets, batchSize: b, sequenceLength: t)
            model.backward()
            let analytic = Array(model.gradients)

            var rng = RandomGenerator(seed: 3)
            let eps: Float = 1e-2
            var checked = 0
            for tensor in model.layout.tensors {
                for _ in 0..<4 {
                    let i = tensor.offset + Int(rng.next() % UInt64(tensor.count))
                    let saved = model.parameters[i]
                    model.parameters[i] = saved + eps
                    let plus = try model.forward(inputs: inputs, targets: targets, batchSize: b, sequenceLength: t)
                    model.parameters[i] = saved - eps
                    let minus = try model.forward(inputs: inputs, targets: targets, batchSize: b, sequenceLength: t)
                    model.parameters[i] = saved
                    let numeric = (plus - minus) / (2 * eps)
                    XCTAssertEqual(analytic[i], numeric, accuracy: 2e-3 + 2e-2 * abs(numeric),
                                   "bias \(bias): d loss / d \(tensor.name)[\(i - tensor.offset)]")
                    checked += 1
                }
            }
            XCTAssertGreaterThan(checked, 40)
            XCTAssertGreaterThan(analytic.map(abs).max()!, 1e-2, "gradients are not trivially zero")
        }
    }

    func testBackwardAccumulatesScaledGradients() throws {
        let model = try makeTinyModel()
        let inputs = randomTokens(12, vocab: 11, seed: 4), targets = randomTokens(12, vocab: 11, seed: 5)
        model.zeroGradients()
        try model.forward(inputs: inputs, targets: targets, batchSize: 2, sequenceLength: 6)
        model.backward()
        let once = Array(model.gradients)

        model.zeroGradients()
        model.lossScale = 0.5
        for _ in 0..<2 {
            try model.forward(inputs: inputs, targets: targets, batchSize: 2, sequenceLength: 6)
            model.backward()
        }
        let accumulated = Array(model.gradients)
        assertClose(accumulated, once, relative: 1e-5, "two half-scaled micro-steps equal one full step")
    }

    func testAllTargetsIgnoredGivesNaNLossAndNoGradient() throws {
        let model = try makeTinyModel()
        let loss = try model.forward(inputs: randomTokens(6, vocab: 11, seed: 6), targets: [Int32](repeating: -1, count: 6),
                                     batchSize: 1, sequenceLength: 6)
        XCTAssertTrue(loss.isNaN)
        model.zeroGradients()
        model.backward()
        XCTAssertEqual(model.gradients.map(abs).max(), 0)
    }

    func testBadInputsThrowNamedErrors() throws {
        let model = try makeTinyModel()
        XCTAssertThrowsError(try model.forward(inputs: [1, 2, 11], targets: nil, batchSize: 1, sequenceLength: 3)) {
            XCTAssertTrue("\($0)".contains("input token 11 at position 2"), "\($0)")
        }
        XCTAssertThrowsError(try model.forward(inputs: [1, 2, 3], targets: [1, -2, 3], batchSize: 1, sequenceLength: 3)) {
            XCTAssertTrue("\($0)".contains("target -2 at position 1"), "\($0)")
        }
        XCTAssertThrowsError(try model.forward(inputs: [Int32](repeating: 0, count: 7), targets: nil, batchSize: 1,
                                               sequenceLength: 7)) {
            XCTAssertTrue("\($0)".contains("exceeds block_size 6"), "\($0)")
        }
        XCTAssertThrowsError(try model.forward(inputs: [1, 2], targets: nil, batchSize: 1, sequenceLength: 3))
    }
}

/// Activations are allocated once for the largest shape and reused by every later step.
final class ModelActivationReuseTests: XCTestCase {
    func testStepsReuseTheReservedActivations() throws {
        let model = try makeTinyModel(threads: 2)
        model.reserve(batchSize: 4, sequenceLength: 6)
        let buffers = model.slices.map { $0.activations.storage.baseAddress }
        let bytes = model.activationBytes
        for (batch, seq) in [(4, 6), (3, 5), (1, 6), (4, 2)] {
            let inputs = randomTokens(batch * seq, vocab: 11, seed: UInt64(batch * 10 + seq))
            model.zeroGradients()
            let loss = try model.forward(inputs: inputs, targets: inputs, batchSize: batch, sequenceLength: seq)
            XCTAssertTrue(loss.isFinite)
            model.backward()
            XCTAssertEqual(model.slices.map { $0.activations.storage.baseAddress }, buffers, "[\(batch), \(seq)]")
            XCTAssertEqual(model.activationBytes, bytes)
        }
        // A bigger batch grows the buffers once.
        try model.forward(inputs: randomTokens(36, vocab: 11, seed: 1), targets: nil, batchSize: 6, sequenceLength: 6)
        XCTAssertGreaterThan(model.activationBytes, bytes)
    }
}
