/// The checkpoint's fixed names, and moving parameters between flat layouts.
public enum Checkpoint {
    /// Root attribute `format` of every gpt-dist checkpoint.
    public static let format = "gpt-dist.checkpoint"
    public static let formatVersion = 1
    /// `/config` keys a checkpoint must have to rebuild the model.
    public static let requiredModelKeys = ["n_layer", "n_head", "n_embd", "block_size", "vocab_size"]

    /// `parameters` (laid out for `source`) laid out for `target`, a model of the same shape but
    /// a `blockSize` no larger: each tensor is copied by name, the position embedding cropped
    /// to its first `target.blockSize` rows.
    public static func relayout(_ parameters: [Float], from source: GPTConfig, to target: GPTConfig) -> [Float] {
        let from = ParameterLayout(config: source), to = ParameterLayout(config: target)
        var result = [Float](repeating: 0, count: to.count)
        for tensor in to.tensors {
            guard let old = from.tensor(named: tensor.name) else { continue }
            let count = min(tensor.count, old.count)
            for i in 0..<count { result[tensor.offset + i] = parameters[old.offset + i] }
        }
        return result
    }

    /// How far a stored copy of the tied weight (`lm_head.weight`) is from `tensor` (wte) in
    /// `parameters`, and whether that is within float tolerance (1e-6 of wte's largest magnitude).
    public static func tiedCopyDifference(_ copy: [Float], of tensor: TensorView, in parameters: [Float]) -> (difference: Float, isTied: Bool) {
        var largest: Float = 0, difference: Float = 0
        for i in 0..<tensor.count {
            largest = max(largest, abs(parameters[tensor.offset + i]))
            difference = max(difference, abs(copy[i] - parameters[tensor.offset + i]))
        }
        return (difference, difference <= 1e-6 * max(largest, 1))
    }
}
