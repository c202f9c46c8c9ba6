@testable import GPT

/// A tiny model with LoRA on every target, random base weights (as `makeTinyModel`) and random
/// adapters (B too: a zero B would make A's gradient zero).
func makeTinyLoRAModel(rank: Int = 2, alpha: Double = 3, loraDropout: Double = 0, dropout: Double = 0,
                       targets: [LoRATarget] = LoRATarget.allCases, bias: Bool = true, seed: UInt64 = 7,
                       threads: Int = 2, randomAdapters: Bool = true) throws -> GPTModel {
    let config = GPTConfig(nLayer: 2, nHead: 2, nEmbd: 8, blockSize: 6, vocabSize: 11, bias: bias, dropout: dropout)
    let lora = LoRAConfig(rank: rank, alpha: alpha, dropout: loraDropout, targets: targets)
    let model = try GPTModel(config: config, seed: seed, threads: threads, lora: lora)
    copyTinyBase(into: model, seed: seed)
    if randomAdapters {
        var rng = RandomGenerator(seed: seed &+ 200)
        rng.fillNormal(model.lora!.parameters, mean: 0, std: 0.3)
    }
    return model
}

/// The random base weights `makeTinyModel(seed:)` gives, written into `model`.
func copyTinyBase(into model: GPTModel, seed: UInt64) {
    var rng = RandomGenerator(seed: seed &+ 100)
    rng.fillNormal(model.parameters, mean: 0, std: 0.3)
    for t in model.layout.tensors where t.name.contains("ln_") && t.name.hasSuffix("weight") {
        for i in t.range { model.parameters[i] += 1 }
    }
}
