/// Every buffer one training step needs for a batch of up to `batch` sequences of up to `seq`
/// tokens, carved out of one allocation made before the first step and reused by every step.
/// The logits live in a buffer of the model's, so that slices of a batch run on different
/// threads write one contiguous [B, T, V] array.
final class Activations {
    /// Saved activations of one transformer block.
    struct Block {
        var ln1: FloatPointer, ln1Mean: FloatPointer, ln1Rstd: FloatPointer
        var qkv: FloatPointer
        var probs: FloatPointer      // [B, H, T, T] softmax output (before dropout); shared when recomputed
        var attnOut: FloatPointer    // [B, T, C] heads re-assembled
        var mid: FloatPointer        // residual stream after the attention branch
        var ln2: FloatPointer, ln2Mean: FloatPointer, ln2Rstd: FloatPointer
        var fcPre: FloatPointer      // [B, T, 4C] before GELU; then GELU's derivative there
        var fcAct: FloatPointer      // [B, T, 4C] after GELU
    }

    let batch: Int, seq: Int
    /// Whether each block keeps its attention probabilities for backward; when they would be
    /// large (more than `attentionLimit` floats over all blocks), the blocks share one buffer and
    /// backward recomputes them from the saved q and k (about 2% more FLOPs for a large cut in
    /// memory: 576 MB for GPT-2 124M at block 1024).
    let storesAttention: Bool
    let storage: UnsafeMutableBufferPointer<Float>
    /// Residual stream entering each block; `residual[nLayer]` leaves the last one.
    var residual: [FloatPointer] = []
    var blocks: [Block] = []
    var lnf: FloatPointer, lnfMean: FloatPointer, lnfRstd: FloatPointer
    var logits: FloatPointer, lse: FloatPointer
    // Scratch shared by the layers.
    var branch: FloatPointer, dResidual: FloatPointer, dBranch: FloatPointer, dNorm: FloatPointer
    var dQKV: FloatPointer, dAttnOut: FloatPointer, dFC: FloatPointer
    var attentionScratch: FloatPointer, normPartials: FloatPointer, ones: FloatPointer
    let lossPartials: UnsafeMutablePointer<Double>
    let tokens: UnsafeMutablePointer<Int32>, targets: UnsafeMutablePointer<Int32>

    init(config: GPTConfig, batch: Int, seq: Int, threads: Int, logits: FloatPointer, attentionLimit: Int) {
        self.batch = batch
        self.seq = seq
        let c = config.nEmbd, bt = batch * seq, l = config.nLayer
        let att = batch * config.nHead * seq * seq
        storesAttention = l * att <= attentionLimit
        let perBlock = bt * (c + 2 + 3 * c + c + c + c + 2 + 4 * c + 4 * c) + (storesAttention ? att : 0)
        var sizes = (l + 1) * bt * c + l * perBlock + (storesAttention ? 0 : att)
        sizes += bt * (c + 2) + bt
        sizes += bt * (4 * c + 3 * c + c + 4 * c) + threads * 2 * seq * seq + threads * 2 * c + bt
        // Round every piece up to 16 floats.
        sizes += 64 * (l * 16 + 32)
        var arena = FloatArena(capacity: sizes)
        func take(_ n: Int) -> FloatPointer { arena.take(n) }
        for _ in 0...l { residual.append(take(bt * c)) }
        let sharedProbs: FloatPointer? = storesAttention ? nil : take(att)
        for _ in 0..<l {
            blocks.append(Block(
                ln1: take(bt * c), ln1Mean: take(bt), ln1Rstd: take(bt), qkv: take(bt * 3 * c),
                probs: sharedProbs ?? take(att), attnOut: take(bt * c), mid: take(bt * c),
                ln2: take(bt * c), ln2Mean: take(bt), ln2Rstd: take(bt),
                fcPre: take(bt * 4 * c), fcAct: take(bt * 4 * c)))
        }
        lnf = take(bt * c); lnfMean = take(bt); lnfRstd = take(bt)
        self.logits = logits; lse = take(bt)
        branch = take(bt * c); dResidual = take(bt * c); dBranch = take(bt * c); dNorm = take(bt * c)
        dQKV = take(bt * 3 * c); dAttnOut = take(bt * c); dFC = take(bt * 4 * c)
        attentionScratch = take(threads * 2 * seq * seq)
        normPartials = take(threads * 2 * c)
        ones = take(bt)
        ones.update(repeating: 1, count: bt)
        storage = arena.storage
        lossPartials = .allocate(capacity: threads)
        tokens = .allocate(capacity: bt)
        targets = .allocate(capacity: bt)
    }

    deinit {
        storage.deallocate()
        lossPartials.deallocate()
        tokens.deallocate()
        targets.deallocate()
    }
}
