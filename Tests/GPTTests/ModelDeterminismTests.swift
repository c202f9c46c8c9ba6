import Parallel
import XCTest
@testable import GPT

/// Same seed, same run: initialisation, dropout masks and AdamW steps are bit-reproducible.
final class ModelDeterminismTests: XCTestCase {
    /// Trains a fresh model a few steps with dropout and returns every loss and the final weights.
    private func train(seed: UInt64, threads: Int, steps: Int = 4, fusedClipping: Bool = false)
        throws -> (losses: [Float], weights: [Float], norms: [Float]) {
        let config = GPTConfig(nLayer: 2, nHead: 2, nEmbd: 16, blockSize: 8, vocabSize: 13, bias: true, dropout: 0.2)
        let model = try GPTModel(config: config, seed: seed, threads: threads)
        let optimizer = AdamW(model: model, beta2: 0.99)
        // The trainer's step on one rank: clipping applied as AdamW reads the gradients.
        let trainerStep = DataParallelStep(model: model, communicator: LocalCommunicator(),
                                           settings: GradientExchange.Settings(), beta2: 0.99)
        var losses: [Float] = [], norms: [Float] = []
        for _ in 0..<steps {
            let inputs = randomTokens(24, vocab: 13, seed: 1), targets = randomTokens(24, vocab: 13, seed: 2)
            if fusedClipping {
                let result = try trainerStep.run(microSteps: 1, lossScale: 1, learningRate: 1e-2, maxGradNorm: 0.5,
                                                 microStep: { _ in
                                                     losses.append(try model.forward(inputs: inputs, targets: targets,
                                                                                     batchSize: 3, sequenceLength: 8))
                                                 }, scalars: { [] })
                norms.append(result.gradientNorm)
            } else {
                model.zeroGradients()
                losses.append(try model.forward(inputs: inputs, targets: targets, batchSize: 3, sequenceLength: 8))
                model.backward()
                norms.append(model.clipGradients(maxNorm: 0.5))
                optimizer.step(model: model, learningRate: 1e-2)
            }
        }
        return (losses, Array(model.parameters), norms)
    }

    func testClippingInsideTheUpdateEqualsClippingFirst() throws {
        let separate = try train(seed: 42, threads: 2), fused = try train(seed: 42, threads: 2, fusedClipping: true)
        XCTAssertGreaterThan(separate.norms.max()!, 0.5, "clipping is active in this run")
        XCTAssertEqual(fused.norms, separate.norms)
        XCTAssertEqual(fused.losses, separate.losses)
        XCTAssertEqual(fused.weights, separate.weights)
    }

    func testSameSeedGivesBitIdenticalTraining() throws {
        let first = try train(seed: 42, threads: 2), second = try train(seed: 42, threads: 2)
        XCTAssertEqual(first.losses, second.losses)
        XCTAssertEqual(first.weights, second.weights)
        let other = try train(seed: 43, threads: 2)
        XCTAssertNotEqual(first.losses, other.losses, "a different seed gives a different run")
        XCTAssertLessThan(first.losses.last!, first.losses.first!, "training lowers the loss")
    }

    /// Without gradients (eval) the forward pass skips GELU's derivative and takes erf from the
    /// cheaper rational form: the same loss and logits to float rounding.
    func testForwardWithoutGradientsGivesTheSameLossAndLogits() throws {
        let model = try makeTinyModel()
        let inputs = randomTokens(12, vocab: 11, seed: 3), targets = randomTokens(12, vocab: 11, seed: 4)
        let with = try model.forward(inputs: inputs, targets: targets, batchSize: 2, sequenceLength: 6)
        try model.forward(inputs: inputs, targets: nil, batchSize: 2, sequenceLength: 6)
        let logits = Array(model.logits)
        model.gradientsEnabled = false
        let without = try model.forward(inputs: inputs, targets: targets, batchSize: 2, sequenceLength: 6)
        XCTAssertEqual(without, with, accuracy: abs(with) * 1e-6)
        try model.forward(inputs: inputs, targets: nil, batchSize: 2, sequenceLength: 6)
        let largest = logits.map(abs).max()!
        XCTAssertEqual(model.logits.count, logits.count)
        for (a, b) in zip(model.logits, logits) { XCTAssertEqual(a, b, accuracy: largest * 1e-6) }
        XCTAssertFalse(model.backwardReady)
        model.gradientsEnabled = true
        _ = try model.forward(inputs: inputs, targets: targets, batchSize: 2, sequenceLength: 6)
        XCTAssertTrue(model.backwardReady)
    }

    func testDropoutIsActiveOnlyInTrainingMode() throws {
        let model = try makeTinyModel(dropout: 0.3)
        let inputs = randomTokens(12, vocab: 11, seed: 8), targets = randomTokens(12, vocab: 11, seed: 9)
        model.isTraining = false
        let eval1 = try model.forward(inputs: inputs, targets: targets, batchSize: 2, sequenceLength: 6)
        let eval2 = try model.forward(inputs: inputs, targets: targets, batchSize: 2, sequenceLength: 6)
        XCTAssertEqual(eval1, eval2)
        model.isTraining = true
        let train1 = try model.forward(inputs: inputs, targets: targets, batchSize: 2, sequenceLength: 6)
        let train2 = try model.forward(inputs: inputs, targets: targets, batchSize: 2, sequenceLength: 6)
        XCTAssertNotEqual(train1, eval1)
        XCTAssertNotEqual(train1, train2, "each training pass draws new masks")

        // Restoring the generator's state replays the same masks.
        let saved = model.dropoutGenerator
        let replay1 = try model.forward(inputs: inputs, targets: targets, batchSize: 2, sequenceLength: 6)
        model.dropoutGenerator = try RandomGenerator(state: saved.state)
        let replay2 = try model.forward(inputs: inputs, targets: targets, batchSize: 2, sequenceLength: 6)
        XCTAssertEqual(replay1, replay2)
    }

    func testDropoutGradientsMatchFiniteDifferencesWithFixedMasks() throws {
        // With the dropout key fixed, the loss is a smooth function of the weights: check the
        // backward pass's masks are the forward pass's.
        let model = try makeTinyModel(dropout: 0.25)
        let inputs = randomTokens(12, vocab: 11, seed: 10), targets = randomTokens(12, vocab: 11, seed: 11)
        let saved = model.dropoutGenerator
        func loss() throws -> Float {
            model.dropoutGenerator = saved
            return try model.forward(inputs: inputs, targets: targets, batchSize: 2, sequenceLength: 6)
        }
        model.zeroGradients()
        _ = try loss()
        model.backward()
        let analytic = Array(model.gradients)
        var rng = RandomGenerator(seed: 12)
        let eps: Float = 1e-2
        for tensor in model.layout.tensors {
            for _ in 0..<2 {
                let i = tensor.offset + Int(rng.next() % UInt64(tensor.count))
                let keep = model.parameters[i]
                model.parameters[i] = keep + eps
                let plus = try loss()
                model.parameters[i] = keep - eps
                let minus = try loss()
                model.parameters[i] = keep
                let numeric = (plus - minus) / (2 * eps)
                XCTAssertEqual(analytic[i], numeric, accuracy: 2e-3 + 2e-2 * abs(numeric), tensor.name)
            }
        }
    }
}

/// Splitting a batch across threads changes nothing but float summation order: same losses,
/// same dropout masks, gradients equal to rounding.
final class ModelBatchSplitTests: XCTestCase {
    func testSplitAndUnsplitBatchesAgree() throws {
        for dropout in [0.0, 0.2] {
            let split = try makeTinyModel(dropout: dropout, threads: 2)
            let whole = try makeTinyModel(dropout: dropout, threads: 2)
            whole.splitsBatchAcrossThreads = false
            let inputs = randomTokens(18, vocab: 11, seed: 30)
            var targets = randomTokens(18, vocab: 11, seed: 31)
            targets[4] = -1
            for model in [split, whole] {
                model.zeroGradients()
                model.dropoutGenerator = RandomGenerator(seed: 5)
            }
            for model in [split, whole] {
                try model.forward(inputs: inputs, targets: nil, batchSize: 3, sequenceLength: 6)
                model.dropoutGenerator = RandomGenerator(seed: 5)
            }
            assertClose(Array(split.logits), Array(whole.logits), relative: 1e-6, "logits, dropout \(dropout)")
            let l1 = try split.forward(inputs: inputs, targets: targets, batchSize: 3, sequenceLength: 6)
            let l2 = try whole.forward(inputs: inputs, targets: targets, batchSize: 3, sequenceLength: 6)
            XCTAssertEqual(l1, l2, accuracy: 1e-6 * abs(l2), "dropout \(dropout)")
            split.backward()
            whole.backward()
            assertClose(Array(split.gradients), Array(whole.gradients), relative: 1e-5, "gradients, dropout \(dropout)")
            XCTAssertEqual(split.slices.count, 2)
            // A batch of one sequence after a split batch reuses the same buffers.
            let single = try split.forward(inputs: Array(inputs[0..<6]), targets: Array(targets[0..<6]), batchSize: 1,
                                           sequenceLength: 6)
            XCTAssertTrue(single.isFinite)
        }
    }
}
