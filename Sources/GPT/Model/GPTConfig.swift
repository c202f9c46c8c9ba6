import Foundation

/// The shape of a GPT, with nanoGPT's `GPTConfig` fields and snake_case keys
/// (`n_layer`, `n_head`, `n_embd`, `block_size`, `vocab_size`, `bias`, `dropout`).
public struct GPTConfig: Codable, Equatable, Hashable, Sendable {
    /// Number of transformer blocks.
    public var nLayer: Int
    /// Attention heads per block; must divide `nEmbd`.
    public var nHead: Int
    /// Width of the residual stream (C).
    public var nEmbd: Int
    /// Longest context the model sees (T), the number of position embeddings.
    public var blockSize: Int
    /// Number of token ids (V).
    public var vocabSize: Int
    /// Whether every Linear and LayerNorm has a bias.
    public var bias: Bool
    /// Dropout probability after the embeddings, on attention weights and on each residual branch.
    public var dropout: Double

    enum CodingKeys: String, CodingKey {
        case nLayer = "n_layer", nHead = "n_head", nEmbd = "n_embd", blockSize = "block_size"
        case vocabSize = "vocab_size", bias, dropout
    }

    /// nanoGPT's defaults are GPT-2 124M (with the vocabulary padded to 50304).
    public init(nLayer: Int = 12, nHead: Int = 12, nEmbd: Int = 768, blockSize: Int = 1024,
                vocabSize: Int = 50304, bias: Bool = true, dropout: Double = 0) {
        self.nLayer = nLayer
        self.nHead = nHead
        self.nEmbd = nEmbd
        self.blockSize = blockSize
        self.vocabSize = vocabSize
        self.bias = bias
        self.dropout = dropout
    }

    /// Decodes every key, with nanoGPT's defaults for `bias` (true) and `dropout` (0) when absent.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        nLayer = try c.decode(Int.self, forKey: .nLayer)
        nHead = try c.decode(Int.self, forKey: .nHead)
        nEmbd = try c.decode(Int.self, forKey: .nEmbd)
        blockSize = try c.decode(Int.self, forKey: .blockSize)
        vocabSize = try c.decode(Int.self, forKey: .vocabSize)
        bias = try c.decodeIfPresent(Bool.self, forKey: .bias) ?? true
        dropout = try c.decodeIfPresent(Double.self, forKey: .dropout) ?? 0
    }

    /// Width of one attention head (C / n_head).
    public var headSize: Int { nEmbd / max(nHead, 1) }

    /// Throws `GPTConfigError` naming the first key whose value cannot make a model.
    public func validate() throws {
        func positive(_ value: Int, _ key: String) throws {
            if value <= 0 { throw GPTConfigError(key: key, problem: "must be positive, got \(value)") }
        }
        try positive(nLayer, "n_layer")
        try positive(nHead, "n_head")
        try positive(nEmbd, "n_embd")
        try positive(blockSize, "block_size")
        try positive(vocabSize, "vocab_size")
        if nEmbd % nHead != 0 {
            throw GPTConfigError(key: "n_embd", problem: "\(nEmbd) is not divisible by n_head \(nHead)")
        }
        if vocabSize > Int(Int32.max) {
            throw GPTConfigError(key: "vocab_size", problem: "\(vocabSize) does not fit token ids of 32 bits")
        }
        if !(dropout >= 0 && dropout < 1) {
            throw GPTConfigError(key: "dropout", problem: "must be in [0, 1), got \(dropout)")
        }
    }

    /// Number of parameters as nanoGPT's `get_num_params()` counts them: wte counted once (it is
    /// also lm_head) and, when `nonEmbedding` is true, the position embeddings left out.
    public func parameterCount(nonEmbedding: Bool = true) -> Int {
        let c = nEmbd
        let perBlockWeights = 12 * c * c
        let perBlockBiases = bias ? (2 * c + 3 * c + c + 2 * c + 4 * c + c) : 2 * c
        let finalNorm = bias ? 2 * c : c
        var n = vocabSize * c + nLayer * (perBlockWeights + perBlockBiases) + finalNorm
        if !nonEmbedding { n += blockSize * c }
        return n
    }
}

/// A `GPTConfig` value that cannot make a model; names the offending key.
public struct GPTConfigError: Error, CustomStringConvertible, LocalizedError, Equatable {
    /// The nanoGPT key (`n_embd`, `dropout`, ...).
    public let key: String
    /// What is wrong with its value.
    public let problem: String

    public init(key: String, problem: String) {
        self.key = key
        self.problem = problem
    }

    public var description: String { "model config: \(key) \(problem)" }
    public var errorDescription: String? { description }
}
