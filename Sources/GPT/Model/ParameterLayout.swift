/// One named tensor inside a flat buffer (parameters, gradients or an AdamW moment: all four
/// buffers share this layout).
public struct TensorView: Equatable, Hashable, Sendable {
    /// nanoGPT's state_dict key, e.g. `transformer.h.0.attn.c_attn.weight`.
    public let name: String
    /// PyTorch's shape, e.g. `[3 * n_embd, n_embd]` for `c_attn.weight`.
    public let shape: [Int]
    /// Index of the first element in the flat buffer.
    public let offset: Int
    /// Number of elements (the product of `shape`).
    public let count: Int
    /// Whether AdamW applies weight decay to it (nanoGPT: tensors with 2 or more dimensions).
    public var decays: Bool { shape.count >= 2 }
    /// Standard deviation of its normal initialisation, or nil for the constant LayerNorm/bias init.
    public let initStd: Float?
    /// Constant initial value when `initStd` is nil (1 for LayerNorm weights, 0 for biases).
    public let initValue: Float

    /// The element range in the flat buffer.
    public var range: Range<Int> { offset..<(offset + count) }
}

/// Where every parameter of a GPT lives in one contiguous Float32 buffer.
///
/// Tensors appear in nanoGPT's state_dict order. `lm_head.weight` is the same storage as
/// `transformer.wte.weight` (weight tying), so it is not in `tensors` but resolves through
/// `tensor(named:)`; `tiedAliases` lists it for checkpoint code that wants to write it too.
/// Every offset is a multiple of 16 floats (64 bytes); the few padding elements between tensors
/// stay zero in every buffer.
public struct ParameterLayout: Sendable {
    /// Names that are another name's storage: `lm_head.weight` -> `transformer.wte.weight`.
    public static let tiedAliases: [String: String] = ["lm_head.weight": "transformer.wte.weight"]

    /// The configuration the layout was made for.
    public let config: GPTConfig
    /// Every distinct tensor, in state_dict order.
    public let tensors: [TensorView]
    /// Length of each flat buffer (parameters, gradients, AdamW m and v), padding included.
    public let count: Int
    /// The ranges backward finishes, in its order: ln_f, each block from the last, then the
    /// embeddings (wte and wpe, at 0). Together they cover `0..<count` once.
    public let backwardRanges: [Range<Int>]

    /// Offsets of one block's tensors; biases are nil when `bias` is false.
    struct Block {
        var ln1Weight = 0, ln1Bias: Int?
        var attnWeight = 0, attnBias: Int?
        var attnProjWeight = 0, attnProjBias: Int?
        var ln2Weight = 0, ln2Bias: Int?
        var fcWeight = 0, fcBias: Int?
        var mlpProjWeight = 0, mlpProjBias: Int?
    }

    let tokenEmbedding: Int
    let positionEmbedding: Int
    let blocks: [Block]
    let finalNormWeight: Int
    let finalNormBias: Int?

    private let index: [String: Int]

    /// The layout of `config` (which should be valid: see `GPTConfig.validate()`).
    public init(config: GPTConfig) {
        self.config = config
        let c = config.nEmbd
        let projStd = Float(0.02 / (2.0 * Double(config.nLayer)).squareRoot())
        var tensors: [TensorView] = []
        var next = 0
        func add(_ name: String, _ shape: [Int], std: Float?, value: Float = 0) -> Int {
            let count = shape.reduce(1, *)
            let offset = next
            tensors.append(TensorView(name: name, shape: shape, offset: offset, count: count,
                                      initStd: std, initValue: value))
            next = (offset + count + 15) / 16 * 16
            return offset
        }
        func addBias(_ name: String, _ count: Int, value: Float = 0) -> Int? {
            config.bias ? add(name, [count], std: nil, value: value) : nil
        }
        tokenEmbedding = add("transformer.wte.weight", [config.vocabSize, c], std: 0.02)
        positionEmbedding = add("transformer.wpe.weight", [config.blockSize, c], std: 0.02)
        var blocks: [Block] = []
        for i in 0..<config.nLayer {
            let p = "transformer.h.\(i)."
            var b = Block()
            b.ln1Weight = add(p + "ln_1.weight", [c], std: nil, value: 1)
            b.ln1Bias = addBias(p + "ln_1.bias", c)
            b.attnWeight = add(p + "attn.c_attn.weight", [3 * c, c], std: 0.02)
            b.attnBias = addBias(p + "attn.c_attn.bias", 3 * c)
            b.attnProjWeight = add(p + "attn.c_proj.weight", [c, c], std: projStd)
            b.attnProjBias = addBias(p + "attn.c_proj.bias", c)
            b.ln2Weight = add(p + "ln_2.weight", [c], std: nil, value: 1)
            b.ln2Bias = addBias(p + "ln_2.bias", c)
            b.fcWeight = add(p + "mlp.c_fc.weight", [4 * c, c], std: 0.02)
            b.fcBias = addBias(p + "mlp.c_fc.bias", 4 * c)
            b.mlpProjWeight = add(p + "mlp.c_proj.weight", [c, 4 * c], std: projStd)
            b.mlpProjBias = addBias(p + "mlp.c_proj.bias", c)
            blocks.append(b)
        }
        self.blocks = blocks
        finalNormWeight = add("transformer.ln_f.weight", [c], std: nil, value: 1)
        finalNormBias = addBias("transformer.ln_f.bias", c)
        self.tensors = tensors
        self.count = next
        var ranges: [Range<Int>] = [finalNormWeight..<next]
        var end = finalNormWeight
        for block in blocks.reversed() {
            ranges.append(block.ln1Weight..<end)
            end = block.ln1Weight
        }
        ranges.append(0..<end)
        backwardRanges = ranges
        var index: [String: Int] = [:]
        for (i, t) in tensors.enumerated() { index[t.name] = i }
        self.index = index
    }

    /// Where block `l`'s tensors begin in the flat buffer; `blockStart(nLayer)` is where ln_f
    /// begins. The embeddings lie before `blockStart(0)`: forward reads the buffer from the
    /// front, backward finishes it from the back.
    public func blockStart(_ l: Int) -> Int {
        l < blocks.count ? blocks[l].ln1Weight : finalNormWeight
    }

    /// wte's elements (lm_head's too: they are tied).
    public var tokenEmbeddingRange: Range<Int> { tokenEmbedding..<(tokenEmbedding + config.vocabSize * config.nEmbd) }

    /// The tensor called `name` (a state_dict key; `lm_head.weight` resolves to wte), or nil.
    public func tensor(named name: String) -> TensorView? {
        let resolved = Self.tiedAliases[name] ?? name
        return index[resolved].map { tensors[$0] }
    }

    /// Every name a state_dict of this model has: the tensors' names plus the tied aliases.
    public var stateDictNames: [String] {
        tensors.map(\.name) + Self.tiedAliases.keys.sorted()
    }
}
