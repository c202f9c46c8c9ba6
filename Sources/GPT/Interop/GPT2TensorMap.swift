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

    /// The `columns × rows` transpose of the row-major `rows × columns` matrix `source`.
    static func transpose(_ source: UnsafeBufferPointer<Float>, rows: Int, columns: Int,
                          into destination: UnsafeMutableBufferPointer<Float>) {
        precondition(source.count == rows * columns && destination.count == rows * columns)
        transpose(source, rows: rows, columns: columns, outputRows: 0..<columns, into: destination)
    }

    /// Rows `outputRows` of the transpose of the row-major `rows × columns` matrix `source` (its
    /// columns `outputRows`, each `rows` long) into the start of `destination`: 32×32 tiles,
    /// moved as 4×4 blocks of vectors.
    static func transpose(_ source: UnsafeBufferPointer<Float>, rows: Int, columns: Int, outputRows: Range<Int>,
                          into destination: UnsafeMutableBufferPointer<Float>) {
        precondition(source.count >= rows * columns && outputRows.upperBound <= columns
                     && destination.count >= outputRows.count * rows)
        guard rows > 0, !outputRows.isEmpty else { return }
        let s = UnsafeRawPointer(source.baseAddress!), d = UnsafeMutableRawPointer(destination.baseAddress!)
        let size = MemoryLayout<Float>.stride, first = outputRows.lowerBound
        /// Element (row r, column c) of the source; element (c, r) of the destination.
        func from(_ r: Int, _ c: Int) -> Int { (r * columns + c) * size }
        func to(_ c: Int, _ r: Int) -> Int { ((c - first) * rows + r) * size }
        let tile = 32
        for c0 in stride(from: first, to: outputRows.upperBound, by: tile) {
            let c1 = min(c0 + tile, outputRows.upperBound)
            for r0 in stride(from: 0, to: rows, by: tile) {
                let r1 = min(r0 + tile, rows)
                var c = c0
                while c + 4 <= c1 {
                    var r = r0
                    while r + 4 <= r1 {
                        let a = s.loadUnaligned(fromByteOffset: from(r, c), as: SIMD4<Float>.self)
                        let b = s.loadUnaligned(fromByteOffset: from(r + 1, c), as: SIMD4<Float>.self)
                        let e = s.loadUnaligned(fromByteOffset: from(r + 2, c), as: SIMD4<Float>.self)
                        let f = s.loadUnaligned(fromByteOffset: from(r + 3, c), as: SIMD4<Float>.self)
                        d.storeBytes(of: SIMD4(a[0], b[0], e[0], f[0]), toByteOffset: to(c, r), as: SIMD4<Float>.self)
                        d.storeBytes(of: SIMD4(a[1], b[1], e[1], f[1]), toByteOffset: to(c + 1, r), as: SIMD4<Float>.self)
                        d.storeBytes(of: SIMD4(a[2], b[2], e[2], f[2]), toByteOffset: to(c + 2, r), as: SIMD4<Float>.self)
                        d.storeBytes(of: SIMD4(a[3], b[3], e[3], f[3]), toByteOffset: to(c + 3, r), as: SIMD4<Float>.self)
                        r += 4
                    }
                    for r in r..<r1 {
                        for k in c..<(c + 4) { d.storeBytes(of: s.load(fromByteOffset: from(r, k), as: Float.self), toByteOffset: to(k, r), as: Float.self) }
                    }
                    c += 4
                }
                for k in c..<c1 {
                    for r in r0..<r1 { d.storeBytes(of: s.load(fromByteOffset: from(r, k), as: Float.self), toByteOffset: to(k, r), as: Float.self) }
                }
            }
        }
    }
}
