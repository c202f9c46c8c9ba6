/// What one batch slice's LoRA adapters keep between forward and backward, and their scratch,
/// in one allocation made with the slice's other activations:
///
///     projected   L × targets × bt·r   each adapter's `dropout(x)·Aᵀ` (its input to B)
///     dProjected  bt·r                 the gradient of one adapter's projection
///     dropped     bt·maxIn             with lora_dropout: one adapter's dropped input, then its
///                                      input gradient before the mask (maxIn: 4C with mlp.c_proj)
final class LoRAActivations {
    let storage: UnsafeMutableBufferPointer<Float>
    /// `projected[l][t]`: block l's adapter of target index t (into `LoRAConfig.targets`).
    let projected: [[FloatPointer]]
    let dProjected: FloatPointer
    /// Nil without lora_dropout.
    let dropped: FloatPointer?
    /// Floats kept between forward and backward (`projected`).
    let storedFloats: Int

    init(config: GPTConfig, lora: LoRAConfig, positions bt: Int) {
        let r = lora.rank, perAdapter = (bt * r + 15) / 16 * 16
        let adapters = config.nLayer * lora.targets.count
        let maxIn = lora.targets.map { $0.shape(embedding: config.nEmbd).inFeatures }.max() ?? 0
        let droppedFloats = lora.dropout > 0 ? bt * maxIn : 0
        var arena = FloatArena(capacity: adapters * perAdapter + perAdapter + droppedFloats + 16)
        projected = (0..<config.nLayer).map { _ in lora.targets.map { _ in arena.take(bt * r) } }
        storedFloats = arena.used
        dProjected = arena.take(bt * r)
        dropped = lora.dropout > 0 ? arena.take(droppedFloats) : nil
        storage = arena.storage
    }

    deinit { storage.deallocate() }

    /// Floats of the scratch (everything not kept between forward and backward).
    var workspaceFloats: Int { storage.count - storedFloats }
}
