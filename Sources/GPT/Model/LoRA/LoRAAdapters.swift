import Foundation

/// A model's LoRA adapters: every A and B in one flat buffer (`layout`), their gradients in
/// another. A is drawn as PEFT draws it (`kaiming_uniform_(a=√5)`: uniform in ±1/√in), B is
/// zero, so a fresh adapter changes nothing until it has trained.
public final class LoRAAdapters {
    /// Where each adapter lives in `parameters` and `gradients`.
    public let layout: LoRALayout
    /// Every A and B, `layout.count` floats (padding zero).
    public let parameters: UnsafeMutableBufferPointer<Float>
    /// Their gradients, same layout; backward adds into it.
    public let gradients: UnsafeMutableBufferPointer<Float>

    /// The adapters' settings.
    public var config: LoRAConfig { layout.lora }

    /// Adapters of `lora` for a model of shape `model`, A drawn from `seed`.
    public init(model: GPTConfig, lora: LoRAConfig, seed: UInt64) {
        layout = LoRALayout(config: model, lora: lora)
        parameters = .allocate(capacity: max(1, layout.count))
        parameters.initialize(repeating: 0)
        gradients = .allocate(capacity: max(1, layout.count))
        gradients.initialize(repeating: 0)
        initialize(seed: seed)
    }

    deinit {
        parameters.deallocate()
        gradients.deallocate()
    }

    /// PEFT's initialisation: each A uniform in [-1/√in, 1/√in) (kaiming-uniform with a = √5:
    /// gain √(1/3) · √(3/in)), drawn in buffer order from a generator seeded by `seed`; each B zero.
    public func initialize(seed: UInt64) {
        var generator = RandomGenerator(seed: seed ^ 0x4C6F_5241_4164_6170)  // "LoRAAdap"
        for tensor in layout.tensors {
            let values = UnsafeMutableBufferPointer(rebasing: parameters[tensor.range])
            guard tensor.name.hasSuffix("lora_A.weight") else {
                values.update(repeating: 0)
                continue
            }
            let bound = Float(1 / Double(tensor.shape[1]).squareRoot())
            for i in values.indices { values[i] = (2 * generator.nextUniform() - 1) * bound }
        }
    }

    /// The adapter tensor called `name` (e.g. `transformer.h.0.attn.c_attn.lora_A.weight`), or nil.
    public func parameter(named name: String) -> UnsafeMutableBufferPointer<Float>? {
        layout.tensor(named: name).map { UnsafeMutableBufferPointer(rebasing: parameters[$0.range]) }
    }

    /// The gradient of the adapter tensor called `name`, or nil.
    public func gradient(named name: String) -> UnsafeMutableBufferPointer<Float>? {
        layout.tensor(named: name).map { UnsafeMutableBufferPointer(rebasing: gradients[$0.range]) }
    }
}

/// Folding adapters into the weights they adapt: `W + scale·B·A`.
public enum LoRAMerge {
    /// `base` (laid out by `ParameterLayout(config: model)`) with every adapter of `adapters`
    /// (laid out by `LoRALayout(config: model, lora: lora)`) added into its weight:
    /// `W[o, i] + scale · Σ_k B[o, k]·A[k, i]`, the sum and the addition in Double, rounded once.
    public static func merged(base: [Float], model: GPTConfig, lora: LoRAConfig, adapters: [Float]) -> [Float] {
        let layout = ParameterLayout(config: model), loraLayout = LoRALayout(config: model, lora: lora)
        precondition(base.count == layout.count && adapters.count == loraLayout.count, "merge: buffers of another shape")
        var result = base
        let scale = Double(lora.scale), r = lora.rank
        for l in 0..<model.nLayer {
            for target in lora.targets {
                let (a, b) = loraLayout.adapter(block: l, target: target)!
                let (outFeatures, inFeatures) = target.shape(embedding: model.nEmbd)
                let weight = layout.tensor(named: "transformer.h.\(l).\(target.modulePath).weight")!.offset
                var row = [Double](repeating: 0, count: inFeatures)
                for o in 0..<outFeatures {
                    for i in 0..<inFeatures { row[i] = 0 }
                    for k in 0..<r {
                        let bk = Double(adapters[b + o * r + k])
                        if bk == 0 { continue }
                        let aRow = a + k * inFeatures
                        for i in 0..<inFeatures { row[i] += bk * Double(adapters[aRow + i]) }
                    }
                    let w = weight + o * inFeatures
                    for i in 0..<inFeatures { result[w + i] = Float(Double(base[w + i]) + scale * row[i]) }
                }
            }
        }
        return result
    }
}
