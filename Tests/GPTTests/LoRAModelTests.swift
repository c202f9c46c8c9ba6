import XCTest
@testable import GPT

/// LoRA adapters in the model: y = x·Wᵀ + b + scale·(drop(x)·Aᵀ)·Bᵀ, the gradients of A and B
/// against finite differences, a frozen base that gets no gradient, and recomputation.
final class LoRAModelTests: XCTestCase {
    let b = 2, t = 5

    func batch() -> (inputs: [Int32], targets: [Int32]) {
        var targets = randomTokens(b * t, vocab: 11, seed: 2)
        targets[3] = -1
        return (randomTokens(b * t, vocab: 11, seed: 1), targets)
    }

    /// Central differences of the loss against the analytic gradient of 3 elements of every A
    /// and B; `reset` runs before every forward (to fix the dropout masks).
    func checkFiniteDifferences(_ model: GPTModel, reset: () -> Void = {}, label: String) throws {
        let (inputs, targets) = batch()
        let lora = try XCTUnwrap(model.lora)
        model.zeroGradients()
        reset()
        try model.forward(inputs: inputs, targets: targets, batchSize: b, sequenceLength: t)
        model.backward()
        let analytic = Array(lora.gradients)
        var rng = RandomGenerator(seed: 3)
        let eps: Float = 1e-2
        var checked = 0
        for tensor in lora.layout.tensors {
            for _ in 0..<3 {
                let i = tensor.offset + Int(rng.next() % UInt64(tensor.count))
                let saved = lora.parameters[i]
                lora.parameters[i] = saved + eps
                reset()
                let plus = try model.forward(inputs: inputs, targets: targets, batchSize: b, sequenceLength: t)
                lora.parameters[i] = saved - eps
                reset()
                let minus = try model.forward(inputs: inputs, targets: targets, batchSize: b, sequenceLength: t)
                lora.parameters[i] = saved
                let numeric = (plus - minus) / (2 * eps)
                XCTAssertEqual(analytic[i], numeric, accuracy: 2e-3 + 2e-2 * abs(numeric),
                               "\(label): d loss / d \(tensor.name)[\(i - tensor.offset)]")
                checked += 1
            }
        }
        XCTAssertEqual(checked, 3 * 2 * 4 * 2)
        XCTAssertGreaterThan(analytic.map(abs).max()!, 1e-2, "\(label): gradients are not trivially zero")
        XCTAssertEqual(model.gradients.count, 0, "a frozen base has no gradient buffer")
        XCTAssertNil(model.gradient(named: "transformer.h.0.attn.c_attn.weight"))
    }

    func testAdapterGradientsMatchFiniteDifferences() throws {
        for bias in [true, false] {
            // Two threads and two sequences: the batch is split and the slices' adapter gradients summed.
            try checkFiniteDifferences(try makeTinyLoRAModel(bias: bias), label: "bias \(bias)")
            try checkFiniteDifferences(try makeTinyLoRAModel(bias: bias, threads: 1), label: "bias \(bias), one thread")
        }
    }

    /// lora_dropout on the adapters' input (and the model's own dropout): masks fixed by the
    /// dropout generator, which every forward draws from.
    func testAdapterGradientsWithDropoutMatchFiniteDifferences() throws {
        let model = try makeTinyLoRAModel(loraDropout: 0.3, dropout: 0.1)
        let start = model.dropoutGenerator
        try checkFiniteDifferences(model, reset: { model.dropoutGenerator = start }, label: "dropout")
        // The masks do act: another generator state gives another loss.
        let (inputs, targets) = batch()
        model.dropoutGenerator = start
        let one = try model.forward(inputs: inputs, targets: targets, batchSize: b, sequenceLength: t)
        model.dropoutGenerator = RandomGenerator(seed: 99)
        let other = try model.forward(inputs: inputs, targets: targets, batchSize: b, sequenceLength: t)
        XCTAssertNotEqual(one, other)
        // Evaluation applies no lora_dropout: any generator state gives the same loss.
        model.isTraining = false
        model.dropoutGenerator = start
        let evalA = try model.forward(inputs: inputs, targets: targets, batchSize: b, sequenceLength: t)
        model.dropoutGenerator = RandomGenerator(seed: 99)
        let evalB = try model.forward(inputs: inputs, targets: targets, batchSize: b, sequenceLength: t)
        XCTAssertEqual(evalA.bitPattern, evalB.bitPattern)
    }

    /// Fresh adapters (B zero, A as PEFT draws it) leave the model's output bit for bit as it was.
    func testFreshAdaptersChangeNothing() throws {
        let plain = try makeTinyModel()
        let lora = try makeTinyLoRAModel(rank: 4, randomAdapters: false)
        let adapters = try XCTUnwrap(lora.lora)
        for tensor in adapters.layout.tensors {
            let values = adapters.parameters[tensor.range]
            if tensor.name.hasSuffix("lora_B.weight") {
                XCTAssertTrue(values.allSatisfy { $0 == 0 }, tensor.name)
            } else {
                // kaiming_uniform_(a=√5): uniform in ±1/√in.
                let bound = 1 / Float(tensor.shape[1]).squareRoot()
                XCTAssertTrue(values.allSatisfy { abs($0) <= bound }, tensor.name)
                XCTAssertGreaterThan(values.map(abs).max()!, 0.5 * bound, tensor.name)
            }
        }
        let (inputs, _) = batch()
        try plain.forward(inputs: inputs, targets: nil, batchSize: b, sequenceLength: t)
        try lora.forward(inputs: inputs, targets: nil, batchSize: b, sequenceLength: t)
        XCTAssertEqual(Array(lora.logits).map(\.bitPattern), Array(plain.logits).map(\.bitPattern))
    }

    /// The adapters' shapes and names, in forward order, PEFT's naming without its prefix.
    func testLayoutNamesAndShapes() throws {
        let config = GPTConfig(nLayer: 2, nHead: 2, nEmbd: 8, blockSize: 6, vocabSize: 11)
        let layout = LoRALayout(config: config, lora: LoRAConfig(rank: 3, alpha: 6, targets: [.feedForwardProjection, .attention]))
        XCTAssertEqual(layout.tensors.map(\.name), [
            "transformer.h.0.attn.c_attn.lora_A.weight", "transformer.h.0.attn.c_attn.lora_B.weight",
            "transformer.h.0.mlp.c_proj.lora_A.weight", "transformer.h.0.mlp.c_proj.lora_B.weight",
            "transformer.h.1.attn.c_attn.lora_A.weight", "transformer.h.1.attn.c_attn.lora_B.weight",
            "transformer.h.1.mlp.c_proj.lora_A.weight", "transformer.h.1.mlp.c_proj.lora_B.weight",
        ])
        XCTAssertEqual(layout.tensors.map(\.shape), [[3, 8], [24, 3], [3, 32], [8, 3], [3, 8], [24, 3], [3, 32], [8, 3]])
        XCTAssertTrue(layout.tensors.allSatisfy { $0.offset % 16 == 0 })
        XCTAssertEqual(layout.lora.scale, 2)
        // Backward's ranges: ln_f (none), block 1, block 0, embeddings (none): all of the buffer once.
        XCTAssertEqual(layout.backwardRanges, [layout.count..<layout.count, layout.blockRange(1), layout.blockRange(0), 0..<0])
        XCTAssertEqual(layout.blockRange(0).lowerBound, 0)
        XCTAssertEqual(layout.blockRange(1).upperBound, layout.count)
    }

    /// Recomputing each block in backward gives the same adapter gradients, bit for bit (with both dropouts).
    func testActivationCheckpointingGivesTheSameGradients() throws {
        func gradients(_ recompute: Bool) throws -> [Float] {
            let model = try makeTinyLoRAModel(loraDropout: 0.2, dropout: 0.1)
            model.activationCheckpointing = recompute
            let (inputs, targets) = batch()
            model.zeroGradients()
            try model.forward(inputs: inputs, targets: targets, batchSize: b, sequenceLength: t)
            model.backward()
            return Array(model.lora!.gradients)
        }
        let stored = try gradients(false), recomputed = try gradients(true)
        XCTAssertEqual(recomputed.map(\.bitPattern), stored.map(\.bitPattern))
        XCTAssertGreaterThan(stored.map(abs).max()!, 1e-3)
    }

    /// The merged weights W + scale·B·A give the adapted model's output; each merged weight is
    /// that sum element by element.
    func testMergedWeightsEqualBasePlusScaledBA() throws {
        let model = try makeTinyLoRAModel(rank: 3, alpha: 5)
        let lora = try XCTUnwrap(model.lora)
        let merged = LoRAMerge.merged(base: Array(model.parameters), model: model.config, lora: lora.config,
                                      adapters: Array(lora.parameters))
        let scale = Double(lora.config.scale)
        for l in 0..<2 {
            for target in LoRATarget.allCases {
                let (outFeatures, inFeatures) = target.shape(embedding: 8)
                let w = model.layout.tensor(named: "transformer.h.\(l).\(target.modulePath).weight")!
                let a = lora.parameter(named: "transformer.h.\(l).\(target.modulePath).lora_A.weight")!
                let bb = lora.parameter(named: "transformer.h.\(l).\(target.modulePath).lora_B.weight")!
                for o in 0..<outFeatures {
                    for i in 0..<inFeatures {
                        var sum = 0.0
                        for k in 0..<3 { sum += Double(bb[o * 3 + k]) * Double(a[k * inFeatures + i]) }
                        let expected = Float(Double(model.parameters[w.offset + o * inFeatures + i]) + scale * sum)
                        XCTAssertEqual(merged[w.offset + o * inFeatures + i].bitPattern, expected.bitPattern, "\(w.name)[\(o), \(i)]")
                    }
                }
            }
        }
        // Everything else is the base, untouched.
        let adapted = Set(model.layout.tensors.filter { t in LoRATarget.allCases.contains { t.name.hasSuffix($0.modulePath + ".weight") } }.map(\.name))
        XCTAssertEqual(adapted.count, 8)
        for tensor in model.layout.tensors where !adapted.contains(tensor.name) {
            XCTAssertEqual(merged[tensor.range].map(\.bitPattern), model.parameters[tensor.range].map(\.bitPattern), tensor.name)
        }
        let plain = try makeTinyModel()
        merged.withUnsafeBufferPointer { _ = plain.parameters.update(fromContentsOf: $0) }
        let (inputs, _) = batch()
        try model.forward(inputs: inputs, targets: nil, batchSize: b, sequenceLength: t)
        try plain.forward(inputs: inputs, targets: nil, batchSize: b, sequenceLength: t)
        assertClose(Array(plain.logits), Array(model.logits), relative: 1e-5, "merged model vs adapters")
    }
}
