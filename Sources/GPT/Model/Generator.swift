import Foundation

/// Autoregressive inference with a key/value cache: each new token costs one position of
/// compute (a prompt is prefilled in one batched pass).
///
/// Context cropping follows nanoGPT exactly: the model always sees the last `block_size`
/// tokens with positions 0..<block_size. While the sequence fits, the cache grows by one
/// position per token. Once it would exceed `block_size`, every position embedding shifts, so the
/// cached keys and values are no longer those of the cropped context: the generator re-prefills
/// the last `block_size` tokens (what nanoGPT computes for every token) and continues from there.
/// Results are therefore identical to nanoGPT's `generate` for the same choices of tokens.
///
/// It reads the base parameters only: a model with LoRA adapters samples from its base (merge
/// the adapters first, as `Checkpoint.loadModel` does).
public final class Generator {
    /// The model it runs (parameters are read at every call, so training in between is seen).
    public var model: GPTModel { decoder.model }
    /// The tokens whose keys and values are cached, at positions 0..<count.
    public var context: [Int32] { decoder.context(ofSlot: 0) }

    /// A batch decoder of one slot: `sample` and `serve` decode through the same code.
    private let decoder: BatchDecoder

    /// A generator with an empty cache sized for `model.config.blockSize` positions.
    public init(model: GPTModel) {
        decoder = BatchDecoder(model: model, slots: 1)
    }

    /// Forgets the cached context.
    public func reset() { decoder.reset(slot: 0) }

    /// Appends `tokens` to the context and returns the logits (V floats) after the last of them,
    /// cropping to the last `block_size` tokens as described on the type. With `allPositions`,
    /// returns the logits after every appended token ([n, V]); this needs the tokens to fit in
    /// the cache without cropping.
    public func append(_ tokens: [Int32], allPositions: Bool = false) throws -> [Float] {
        try decoder.append(tokens, toSlot: 0, allPositions: allPositions)
    }

    /// nanoGPT's `generate`: appends `maxNewTokens` sampled tokens after `prompt`, calling
    /// `onToken` with each as soon as it is chosen (return false to stop early). Returns the new
    /// tokens. The cache starts afresh from `prompt`.
    @discardableResult
    public func generate(prompt: [Int32], maxNewTokens: Int, options: SamplingOptions = SamplingOptions(),
                         rng: inout RandomGenerator, onToken: (Int32) throws -> Bool = { _ in true }) throws -> [Int32] {
        try options.validate()
        guard !prompt.isEmpty else { throw ModelError("generator: the prompt is empty (start with at least one token)") }
        reset()
        var sampler = SequenceSampler(options: options, rng: rng)
        defer { rng = sampler.rng }
        var logits = try append(Array(prompt.suffix(model.config.blockSize)))
        var produced: [Int32] = []
        for step in 0..<maxNewTokens {
            let token = sampler.next(logits)
            produced.append(token)
            if try !onToken(token) { break }
            if step + 1 < maxNewTokens { logits = try decoder.step(slots: [0], tokens: [token]) }
        }
        return produced
    }
}
