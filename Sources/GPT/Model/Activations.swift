/// Every buffer one training step needs for a batch of up to `batch` sequences of up to `seq`
/// tokens, carved out of one allocation made before the first step and reused by every step.
///
/// The plan, one line per buffer (sizes in floats; bt = batch·seq, C = n_embd, L = n_layer):
///
///     residual      (L + 1) × bt·C     the stream entering each block, and leaving the last
///     block         L × (11·C + 4 + H)·bt  what each block's backward reads (H: attention's
///                                      log-sum-exp per head); one copy shared by every block
///                                      when the blocks are recomputed (activation checkpointing)
///     gelu          L × 4C·bt          GELU's output per block, only when all of them take at most
///                                      `keptGELUOutputMaximumBytes` (small models: backward
///                                      then reads it and GELU's derivative instead of
///                                      recomputing both from fcPre)
///     lnf           bt·(C + 2)         final LayerNorm's output, mean and 1/std
///     lse           bt                 each position's log-sum-exp over the vocabulary
///     classifier    chunkRows × V      one chunk of logits (and then their gradient)
///     gradients     bt·16·C            branch, dResidual, dBranch, dNorm, dQKV (3C), dAttnOut, dFC (4C),
///                                      and GELU's output (4C; forward's and backward's when it is
///                                      not kept per block)
///     scratch       threads·(attention + 2C) + bt  attention's tiles (`Attention.scratchFloats`,
///                                      linear in T), LayerNorm partials, a row of ones
///
/// No buffer grows with T² or with B·T·V.
///
/// The first four are what is *stored* between forward and backward; the rest is workspace.
/// The classifier never holds more than `chunkRows` positions' logits (see `GPTModel.forward`).
final class Activations {
    /// Saved activations of one transformer block.
    struct Block {
        var ln1: FloatPointer, ln1Mean: FloatPointer, ln1Rstd: FloatPointer
        var qkv: FloatPointer
        var lse: FloatPointer        // [B, H, T] attention's log-sum-exp per row
        var attnOut: FloatPointer    // [B, T, C] heads re-assembled
        var mid: FloatPointer        // residual stream after the attention branch
        var ln2: FloatPointer, ln2Mean: FloatPointer, ln2Rstd: FloatPointer
        var fcPre: FloatPointer      // [B, T, 4C] before GELU; GELU's derivative once a training
                                     // forward ran, when `fcAct` is kept
        var fcAct: FloatPointer      // [B, T, 4C] GELU's output: this block's own when kept, else
                                     // the shared workspace (backward recomputes it from fcPre)

        /// Floats of one block's activations for `bt` positions.
        static func floats(positions bt: Int, channels c: Int, heads: Int) -> Int {
            bt * (c + 2 + 3 * c + heads + c + c + c + 2 + 4 * c)
        }
    }

    let batch: Int, seq: Int
    /// Whether every block shares one set of buffers, so backward recomputes each block's forward
    /// from its saved input (`residual[l]`) before it runs the block's backward.
    let recomputesBlocks: Bool
    /// Whether each block keeps GELU's output (`Block.fcAct`) and its derivative (in place of
    /// `fcPre`) from forward to backward: when the blocks are not recomputed and all of those
    /// outputs take at most `keptGELUOutputMaximumBytes`.
    let keepsGELUOutput: Bool
    /// The most bytes of GELU output kept for backward (every block's together). Above it
    /// (GPT-2 124M at batch 8: 1.2 GB) backward recomputes GELU from the pre-activation, so the
    /// memory stays what the stored path needs without it; below (nanoGPT's CPU shape: 6 MB) the
    /// second GELU pass is skipped.
    static let keptGELUOutputMaximumBytes = 64 << 20
    /// Positions whose logits the classifier holds at once.
    let chunkRows: Int
    /// Floats kept between forward and backward (residual stream, blocks, ln_f, lse).
    let storedFloats: Int
    let storage: UnsafeMutableBufferPointer<Float>
    /// Residual stream entering each block; `residual[nLayer]` leaves the last one.
    var residual: [FloatPointer] = []
    var blocks: [Block] = []
    var lnf: FloatPointer, lnfMean: FloatPointer, lnfRstd: FloatPointer
    var lse: FloatPointer
    /// One chunk of logits [chunkRows, V], then their gradient.
    var classifier: FloatPointer
    // Scratch shared by the layers.
    var branch: FloatPointer, dResidual: FloatPointer, dBranch: FloatPointer, dNorm: FloatPointer
    var dQKV: FloatPointer, dAttnOut: FloatPointer, dFC: FloatPointer
    /// GELU's output [B, T, 4C]: mlp.c_proj's input, made by forward and again by backward
    /// (blocks that keep their own point elsewhere).
    var fcAct: FloatPointer
    var attentionScratch: FloatPointer, normPartials: FloatPointer, ones: FloatPointer
    let lossPartials: UnsafeMutablePointer<Double>
    let tokens: UnsafeMutablePointer<Int32>, targets: UnsafeMutablePointer<Int32>

    /// Floats of the workspace (everything not stored between forward and backward).
    var workspaceFloats: Int { storage.count - storedFloats }

    init(config: GPTConfig, batch: Int, seq: Int, threads: Int, recomputesBlocks: Bool,
         chunkRows: Int, keptGELUOutputMaximumBytes: Int = Activations.keptGELUOutputMaximumBytes) {
        self.batch = batch
        self.seq = seq
        self.recomputesBlocks = recomputesBlocks
        let c = config.nEmbd, v = config.vocabSize, bt = batch * seq, l = config.nLayer
        let keeps = !recomputesBlocks && l * bt * 4 * c * MemoryLayout<Float>.stride <= keptGELUOutputMaximumBytes
        keepsGELUOutput = keeps
        self.chunkRows = max(1, min(chunkRows, bt))
        let copies = recomputesBlocks ? 1 : l
        let h = config.nHead
        let perBlock = Block.floats(positions: bt, channels: c, heads: h)
        let stored = (l + 1) * bt * c + copies * perBlock + (keeps ? l * bt * 4 * c : 0) + bt * (c + 2) + bt
        let attentionScratchFloats = threads * Attention.scratchFloats(seq: seq, headSize: config.headSize)
        let workspace = self.chunkRows * v + bt * (c + c + c + c + 3 * c + c + 4 * c + 4 * c)
            + attentionScratchFloats + threads * 2 * c + bt
        // Every piece is rounded up to 16 floats.
        let pieces = (l + 1) + copies * 11 + (keeps ? l : 0) + 1 + 4 + 1 + 8 + 3
        var arena = FloatArena(capacity: stored + workspace + 16 * pieces)
        func take(_ n: Int) -> FloatPointer { arena.take(n) }
        for _ in 0...l { residual.append(take(bt * c)) }
        for _ in 0..<copies {
            blocks.append(Block(
                ln1: take(bt * c), ln1Mean: take(bt), ln1Rstd: take(bt), qkv: take(bt * 3 * c),
                lse: take(bt * h), attnOut: take(bt * c), mid: take(bt * c),
                ln2: take(bt * c), ln2Mean: take(bt), ln2Rstd: take(bt),
                fcPre: take(bt * 4 * c), fcAct: keeps ? take(bt * 4 * c) : arena.storage.baseAddress!))
        }
        if recomputesBlocks { blocks = Array(repeating: blocks[0], count: l) }
        lnf = take(bt * c); lnfMean = take(bt); lnfRstd = take(bt)
        lse = take(bt)
        storedFloats = arena.used
        classifier = take(self.chunkRows * v)
        branch = take(bt * c); dResidual = take(bt * c); dBranch = take(bt * c); dNorm = take(bt * c)
        dQKV = take(bt * 3 * c); dAttnOut = take(bt * c); dFC = take(bt * 4 * c); fcAct = take(bt * 4 * c)
        if !keeps { for i in blocks.indices { blocks[i].fcAct = fcAct } }
        attentionScratch = take(attentionScratchFloats)
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
