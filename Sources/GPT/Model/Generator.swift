import CBLAS
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
    public let model: GPTModel
    /// The tokens whose keys and values are cached, at positions 0..<count.
    public private(set) var context: [Int32] = []

    private let keys: [FloatPointer], values: [FloatPointer]   // per layer [H, T, hs]
    private let x: FloatPointer, norm: FloatPointer, mean: FloatPointer, rstd: FloatPointer
    private let qkv: FloatPointer, attnOut: FloatPointer, fc: FloatPointer, scores: FloatPointer
    private let logitsBuffer: FloatPointer
    private let storage: UnsafeMutableBufferPointer<Float>
    private var sampler = TokenSampler()
    private let splitter: WorkSplitter

    /// A generator with an empty cache sized for `model.config.blockSize` positions.
    public init(model: GPTModel) {
        self.model = model
        let cfg = model.config
        let t = cfg.blockSize, c = cfg.nEmbd, l = cfg.nLayer, v = cfg.vocabSize
        let cache = t * c
        let total = 2 * l * cache + t * (c + c + 1 + 1 + 3 * c + c + 4 * c) + t * t + t * v + 16 * (2 * l + 16)
        var arena = FloatArena(capacity: total)
        func take(_ n: Int) -> FloatPointer { arena.take(n) }
        keys = (0..<l).map { _ in take(cache) }
        values = (0..<l).map { _ in take(cache) }
        x = take(t * c); norm = take(t * c); mean = take(t); rstd = take(t)
        qkv = take(t * 3 * c); attnOut = take(t * c); fc = take(t * 4 * c); scores = take(t * t)
        logitsBuffer = take(t * v)
        storage = arena.storage
        splitter = WorkSplitter(threads: model.threads)
    }

    deinit { storage.deallocate() }

    /// Forgets the cached context.
    public func reset() { context.removeAll(keepingCapacity: true) }

    /// Appends `tokens` to the context and returns the logits (V floats) after the last of them,
    /// cropping to the last `block_size` tokens as described on the type. With `allPositions`,
    /// returns the logits after every appended token ([n, V]); this needs the tokens to fit in
    /// the cache without cropping.
    public func append(_ tokens: [Int32], allPositions: Bool = false) throws -> [Float] {
        let v = model.config.vocabSize, blockSize = model.config.blockSize
        guard !tokens.isEmpty else { throw ModelError("generator: append needs at least one token") }
        for (i, token) in tokens.enumerated() where token < 0 || Int(token) >= v {
            throw ModelError("generator: token \(token) at position \(i) is outside the vocabulary 0..<\(v)")
        }
        if context.count + tokens.count <= blockSize {
            let start = context.count
            context += tokens
            extend(from: start, count: tokens.count, allLogits: allPositions)
        } else {
            guard !allPositions else {
                throw ModelError("generator: \(context.count + tokens.count) tokens exceed block_size \(blockSize)")
            }
            // Positions shift: recompute the cache for the last block_size tokens.
            context = Array((context + tokens).suffix(blockSize))
            extend(from: 0, count: context.count, allLogits: false)
        }
        let rows = allPositions ? tokens.count : 1
        return Array(UnsafeBufferPointer(start: logitsBuffer, count: rows * v))
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
        var logits = try append(Array(prompt.suffix(model.config.blockSize)))
        var produced: [Int32] = []
        for step in 0..<maxNewTokens {
            let token = logits.withUnsafeBufferPointer { sampler.sample($0, options: options, rng: &rng) }
            produced.append(token)
            if try !onToken(token) { break }
            if step + 1 < maxNewTokens { logits = try append([token]) }
        }
        return produced
    }

    /// Runs positions `start..<start+count` of `context` through the model, reading cached keys
    /// and values for earlier positions and caching their own; leaves logits of the last position
    /// (or of every new position) in `logitsBuffer`.
    private func extend(from start: Int, count n: Int, allLogits: Bool) {
        let cfg = model.config, layout = model.layout
        let c = cfg.nEmbd, hs = cfg.headSize, heads = cfg.nHead, t = cfg.blockSize, v = cfg.vocabSize
        let p = UnsafePointer(model.parameters.baseAddress!)
        func bias(_ o: Int?) -> UnsafePointer<Float>? { o.map { p + $0 } }
        let wte = p + layout.tokenEmbedding, wpe = p + layout.positionEmbedding
        for i in 0..<n {
            let tok = Int(context[start + i])
            for j in 0..<c { x[i * c + j] = wte[tok * c + j] + wpe[(start + i) * c + j] }
        }
        let total = start + n
        let scale = 1 / Float(hs).squareRoot()
        for l in 0..<cfg.nLayer {
            let w = layout.blocks[l]
            LayerNorm.forward(out: norm, mean: mean, rstd: rstd, inp: x, weight: p + w.ln1Weight,
                              bias: bias(w.ln1Bias), rows: n, columns: c, splitter: splitter)
            linearForward(out: qkv, inp: norm, weight: p + w.attnWeight, bias: bias(w.attnBias), rows: n,
                          inFeatures: c, outFeatures: 3 * c, splitter: splitter)
            for h in 0..<heads {
                let kc = keys[l] + h * t * hs, vc = values[l] + h * t * hs
                for i in 0..<n {
                    (kc + (start + i) * hs).update(from: qkv + i * 3 * c + c + h * hs, count: hs)
                    (vc + (start + i) * hs).update(from: qkv + i * 3 * c + 2 * c + h * hs, count: hs)
                }
                sgemm(transB: true, m: n, n: total, k: hs, alpha: scale, a: qkv + h * hs, lda: 3 * c,
                      b: kc, ldb: hs, beta: 0, c: scores, ldc: total)
                for i in 0..<n { causalSoftmaxRow(scores + i * total, length: start + i + 1, width: total) }
                sgemm(m: n, n: hs, k: total, a: scores, lda: total, b: vc, ldb: hs, beta: 0,
                      c: attnOut + h * hs, ldc: c)
            }
            if let b = bias(w.attnProjBias) { copyAddingBias(out: x, x, bias: b, rows: n, columns: c, splitter: splitter) }
            linearForward(out: x, inp: attnOut, weight: p + w.attnProjWeight, bias: nil, rows: n, inFeatures: c,
                          outFeatures: c, accumulate: true, splitter: splitter)
            LayerNorm.forward(out: norm, mean: mean, rstd: rstd, inp: x, weight: p + w.ln2Weight,
                              bias: bias(w.ln2Bias), rows: n, columns: c, splitter: splitter)
            linearForward(out: fc, inp: norm, weight: p + w.fcWeight, bias: bias(w.fcBias), rows: n,
                          inFeatures: c, outFeatures: 4 * c, splitter: splitter)
            GELU.forward(out: fc, inp: fc, count: n * 4 * c, splitter: splitter)
            if let b = bias(w.mlpProjBias) { copyAddingBias(out: x, x, bias: b, rows: n, columns: c, splitter: splitter) }
            linearForward(out: x, inp: fc, weight: p + w.mlpProjWeight, bias: nil, rows: n, inFeatures: 4 * c,
                          outFeatures: c, accumulate: true, splitter: splitter)
        }
        // Only the rows whose logits are wanted go through ln_f and the head.
        let first = allLogits ? 0 : n - 1
        let rows = n - first
        LayerNorm.forward(out: norm, mean: mean, rstd: rstd, inp: x + first * c, weight: p + layout.finalNormWeight,
                          bias: bias(layout.finalNormBias), rows: rows, columns: c, splitter: splitter)
        linearForward(out: logitsBuffer, inp: norm, weight: wte, bias: nil, rows: rows, inFeatures: c,
                      outFeatures: v, splitter: splitter)
    }
}
