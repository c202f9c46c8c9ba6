/// Where every LoRA adapter lives in the adapters' own flat buffer (parameters, gradients and
/// AdamW moments alike): for each block in order, for each target, A `[rank, in]` then B
/// `[out, rank]`, each at a multiple of 16 floats. Names follow the base weight's:
/// `transformer.h.{i}.attn.c_attn.lora_A.weight`, `...lora_B.weight` (PEFT's, without its
/// `base_model.model.` prefix).
public struct LoRALayout: FlatLayout, Sendable {
    /// The adapters' settings.
    public let lora: LoRAConfig
    /// Every A and B, in buffer order.
    public let tensors: [TensorView]
    public let count: Int
    /// n_layer + 2 ranges, as the model's backward announces them: an empty one for ln_f, each
    /// block's adapters from the last block, an empty one for the embeddings.
    public let backwardRanges: [Range<Int>]
    /// Offsets of A and B per block and target (nil where the target has no adapter).
    let offsets: [[LoRATarget: (a: Int, b: Int)]]
    /// Where block `l`'s adapters begin; `blockStarts[nLayer]` is `count`.
    let blockStarts: [Int]

    /// The adapters of `lora` on a model of shape `config`.
    public init(config: GPTConfig, lora: LoRAConfig) {
        self.lora = lora
        let c = config.nEmbd, r = lora.rank
        var tensors: [TensorView] = [], offsets: [[LoRATarget: (a: Int, b: Int)]] = [], starts: [Int] = []
        var next = 0
        func add(_ name: String, _ shape: [Int]) -> Int {
            let count = shape.reduce(1, *), offset = next
            tensors.append(TensorView(name: name, shape: shape, offset: offset, count: count, initStd: nil, initValue: 0))
            next = (offset + count + 15) / 16 * 16
            return offset
        }
        for l in 0..<config.nLayer {
            starts.append(next)
            var block: [LoRATarget: (a: Int, b: Int)] = [:]
            for target in lora.targets {
                let (outFeatures, inFeatures) = target.shape(embedding: c)
                let p = "transformer.h.\(l).\(target.modulePath)."
                let a = add(p + "lora_A.weight", [r, inFeatures])
                let b = add(p + "lora_B.weight", [outFeatures, r])
                block[target] = (a, b)
            }
            offsets.append(block)
        }
        starts.append(next)
        self.tensors = tensors
        self.offsets = offsets
        blockStarts = starts
        count = next
        var ranges = [next..<next]
        for l in stride(from: config.nLayer - 1, through: 0, by: -1) { ranges.append(starts[l]..<starts[l + 1]) }
        ranges.append(0..<0)
        backwardRanges = ranges
    }

    /// Block `l`'s adapters (empty past the last block).
    public func blockRange(_ l: Int) -> Range<Int> {
        l < blockStarts.count - 1 ? blockStarts[l]..<blockStarts[l + 1] : count..<count
    }

    /// The tensor called `name`, or nil.
    public func tensor(named name: String) -> TensorView? { tensors.first { $0.name == name } }

    /// Offsets of block `l`'s A and B for `target`, or nil when it has none.
    public func adapter(block l: Int, target: LoRATarget) -> (a: Int, b: Int)? { offsets[l][target] }
}
