import XCTest
@testable import GPT

/// The model against PyTorch: nanoGPT's own model.py computed the fixtures (logits, loss, every
/// gradient, parameters after two clipped AdamW steps) for a tiny model with and without biases.
final class ModelFixtureTests: XCTestCase {
    func testBiasModelMatchesPyTorch() throws {
        try checkFixture("gpt_bias")
    }

    func testNoBiasModelMatchesPyTorch() throws {
        try checkFixture("gpt_nobias")
    }

    private func checkFixture(_ name: String) throws {
        let fixture = try PyTorchFixture(name: name)
        let config = GPTConfig(
            nLayer: try fixture.intAttribute("config", "n_layer"), nHead: try fixture.intAttribute("config", "n_head"),
            nEmbd: try fixture.intAttribute("config", "n_embd"),
            blockSize: try fixture.intAttribute("config", "block_size"),
            vocabSize: try fixture.intAttribute("config", "vocab_size"),
            bias: try fixture.intAttribute("config", "bias") != 0, dropout: 0)
        let model = try GPTModel(config: config, seed: 1, threads: 2)
        for tensor in model.layout.tensors {
            let values = try fixture.floats("model/\(tensor.name)")
            XCTAssertEqual(values.count, tensor.count, tensor.name)
            _ = model.parameter(named: tensor.name)!.update(fromContentsOf: values)
        }
        XCTAssertEqual(Array(model.parameter(named: "lm_head.weight")!), try fixture.floats("model/lm_head.weight"),
                       "lm_head is tied to wte")

        let idx = try fixture.ints("batch/idx"), targets = try fixture.ints("batch/targets")
        XCTAssertTrue(targets.contains(-1), "the fixture exercises ignored positions")
        let batch = idx.count / config.blockSize
        try model.forward(inputs: idx, targets: nil, batchSize: batch, sequenceLength: config.blockSize)
        let expectedLogits = try fixture.floats("expected/logits")
        assertClose(Array(model.logits), expectedLogits, relative: 1e-5, "\(name) logits")

        model.zeroGradients()
        let loss = try model.forward(inputs: idx, targets: targets, batchSize: batch, sequenceLength: config.blockSize)
        let expectedLoss = Float(try fixture.attribute("expected", "loss"))
        XCTAssertEqual(loss, expectedLoss, accuracy: 1e-5 * abs(expectedLoss), "\(name) loss")
        XCTAssertEqual(model.logits.count, 0, "a pass with targets keeps no logits")
        model.backward()
        for tensor in model.layout.tensors {
            assertClose(Array(model.gradient(named: tensor.name)!), try fixture.floats("grads/\(tensor.name)"),
                        relative: 1e-4, "\(name) gradient of \(tensor.name)")
        }

        let lr = Float(try fixture.attribute("adamw", "lr"))
        let clip = Float(try fixture.attribute("adamw", "grad_clip"))
        let optimizer = AdamW(model: model, beta1: Float(try fixture.attribute("adamw", "beta1")),
                              beta2: Float(try fixture.attribute("adamw", "beta2")),
                              eps: Float(try fixture.attribute("adamw", "eps")),
                              weightDecay: Float(try fixture.attribute("adamw", "weight_decay")))
        for step in 1...2 {
            if step == 2 {
                model.zeroGradients()
                try model.forward(inputs: idx, targets: targets, batchSize: batch, sequenceLength: config.blockSize)
                model.backward()
            }
            let norm = model.clipGradients(maxNorm: clip)
            let expectedNorm = Float(try fixture.attribute("adamw", "grad_norm_step\(step)"))
            XCTAssertEqual(norm, expectedNorm, accuracy: 1e-5 * expectedNorm, "\(name) grad norm at step \(step)")
            optimizer.step(model: model, learningRate: lr)
            XCTAssertEqual(optimizer.stepCount, step)
            for tensor in model.layout.tensors {
                let actual = Array(model.parameter(named: tensor.name)!)
                let expected = try fixture.floats("after_step\(step)/\(tensor.name)")
                var tolerances = [Float](repeating: 1e-5, count: expected.count)
                if tensor.name.hasSuffix("c_attn.bias") {
                    // The key slice's gradient is float noise in both implementations (see the
                    // fixture's layout note); AdamW amplifies noise to steps of up to ~lr.
                    for i in config.nEmbd..<(2 * config.nEmbd) { tolerances[i] = 1e-4 }
                }
                for i in expected.indices where abs(actual[i] - expected[i]) > tolerances[i] {
                    XCTFail("\(name) after step \(step): \(tensor.name)[\(i)] = \(actual[i]), PyTorch \(expected[i])")
                    break
                }
            }
        }
    }
}

/// Fails when any element differs from `expected` by more than `relative` times the largest
/// magnitude in `expected`.
func assertClose(_ actual: [Float], _ expected: [Float], relative: Float, _ what: String,
                 file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(actual.count, expected.count, what, file: file, line: line)
    guard actual.count == expected.count else { return }
    let scale = expected.map(abs).max() ?? 0
    var worst: Float = 0, at = 0
    for i in expected.indices where abs(actual[i] - expected[i]) > worst {
        worst = abs(actual[i] - expected[i])
        at = i
    }
    XCTAssertLessThanOrEqual(worst, relative * scale,
                             "\(what): element \(at) is \(actual[at]), expected \(expected[at]) (scale \(scale))",
                             file: file, line: line)
}
