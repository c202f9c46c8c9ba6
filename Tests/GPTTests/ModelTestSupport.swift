@testable import GPT

/// A tiny model (fast in debug builds) with random weights larger than nanoGPT's init, so every
/// nonlinearity is exercised.
func makeTinyModel(bias: Bool = true, dropout: Double = 0, seed: UInt64 = 7, threads: Int = 2,
                   blockSize: Int = 6, initStd: Float = 0.3) throws -> GPTModel {
    let config = GPTConfig(nLayer: 2, nHead: 2, nEmbd: 8, blockSize: blockSize, vocabSize: 11, bias: bias,
                           dropout: dropout)
    let model = try GPTModel(config: config, seed: seed, threads: threads)
    var rng = RandomGenerator(seed: seed &+ 100)
    rng.fillNormal(model.parameters, mean: 0, std: initStd)
    // LayerNorm weights near 1 keep activations in a sensible range.
    for t in model.layout.tensors where t.name.contains("ln_") && t.name.hasSuffix("weight") {
        for i in t.range { model.parameters[i] += 1 }
    }
    return model
}

/// Random tokens in 0..<vocab.
func randomTokens(_ count: Int, vocab: Int, seed: UInt64) -> [Int32] {
    var rng = RandomGenerator(seed: seed)
    return (0..<count).map { _ in Int32(rng.next() % UInt64(vocab)) }
}
