/// How the tensors of a Hugging Face `GPT2LMHeadModel` correspond to gpt-dist's (nanoGPT's
/// `from_pretrained` mapping). The names are the same (`transformer.h.{i}.attn.c_attn.weight`,
/// ...); the four projection weights are stored by GPT-2's `Conv1D` as `[in, out]`, the
/// transpose of `nn.Linear`'s `[out, in]` that gpt-dist uses; `lm_head.weight` is
/// `transformer.wte.weight` (tied), and the `attn.bias` / `attn.masked_bias` mask buffers are
/// not parameters.
public struct GPT2TensorMap {
    /// One gpt-dist tensor and its Hugging Face counterpart.
    public struct Entry {
        /// The tensor in gpt-dist's flat layout (nn.Linear shape).
        public let tensor: TensorView
        /// Its name in `model.safetensors` as `GPT2LMHeadModel.save_pretrained` writes it.
        public var name: String { tensor.name }
        /// Whether GPT-2 stores it transposed (Conv1D).
        public let isConv1D: Bool
        /// Its shape in `model.safetensors`.
        public var huggingFaceShape: [Int] { isConv1D ? [tensor.shape[1], tensor.shape[0]] : tensor.shape }
    }

    /// Suffixes of the weights GPT-2 keeps in Conv1D's `[in, out]` layout.
    public static let conv1DWeights = ["attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight"]
    /// The prefix of every tensor of `GPT2LMHeadModel` but `lm_head`; `GPT2Model` files (and
    /// OpenAI's own `gpt2` upload) leave it out.
    public static let modelPrefix = "transformer."
    /// The tied output projection.
    public static let outputName = "lm_head.weight"

    /// Every tensor of `layout`, in its order.
    public let entries: [Entry]

    public init(layout: ParameterLayout) {
        entries = layout.tensors.map { tensor in
            Entry(tensor: tensor, isConv1D: Self.conv1DWeights.contains { tensor.name.hasSuffix("." + $0) })
        }
    }

    /// `name` without the `transformer.` prefix.
    public static func unprefixed(_ name: String) -> String {
        name.hasPrefix(modelPrefix) ? String(name.dropFirst(modelPrefix.count)) : name
    }

    /// Whether `name` is one of GPT-2's causal-mask buffers (`h.{i}.attn.bias`, `h.{i}.attn.masked_bias`).
    public static func isMaskBuffer(_ name: String) -> Bool {
        let parts = unprefixed(name).split(separator: ".")
        return parts.count == 4 && parts[0] == "h" && Int(parts[1]) != nil && parts[2] == "attn"
            && (parts[3] == "bias" || parts[3] == "masked_bias")
    }

    /// Copies a `[rows, columns]` row-major matrix into `destination` as `[columns, rows]`, in
    /// tiles so both sides stay in cache.
    static func transpose(_ source: UnsafeBufferPointer<Float>, rows: Int, columns: Int,
                          into destination: UnsafeMutableBufferPointer<Float>) {
        precondition(source.count == rows * columns && destination.count == rows * columns)
        let tile = 32
        let s = source.baseAddress!, d = destination.baseAddress!
        for r0 in stride(from: 0, to: rows, by: tile) {
            let r1 = min(r0 + tile, rows)
            for c0 in stride(from: 0, to: columns, by: tile) {
                let c1 = min(c0 + tile, columns)
                for r in r0..<r1 {
                    for c in c0..<c1 { d[c * rows + r] = s[r * columns + c] }
                }
            }
        }
    }
}
