/// Named tensors in one contiguous Float32 buffer: what the optimizer, the gradient exchange and
/// the checkpoint's moment writer need to know of the buffer they work on (the model's
/// parameters, `ParameterLayout`, or its LoRA adapters, `LoRALayout`).
public protocol FlatLayout: Sendable {
    /// Every tensor, in buffer order.
    var tensors: [TensorView] { get }
    /// Floats in the buffer, padding included.
    var count: Int { get }
    /// The ranges a backward pass finishes, in its order (ln_f, each block from the last, then the
    /// embeddings); together they cover `0..<count` once, some of them possibly empty.
    var backwardRanges: [Range<Int>] { get }
}

extension ParameterLayout: FlatLayout {}
