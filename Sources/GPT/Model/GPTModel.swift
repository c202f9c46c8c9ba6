import CBLAS
import Foundation

/// nanoGPT's GPT on flat Float32 buffers: parameters in one buffer, gradients in another (same
/// `layout`), activations preallocated for a (batch, block) shape and reused by every step.
///
/// A training step is `zeroGradients()`, then per micro-batch `forward(inputs:targets:...)` and
/// `backward()` (gradients accumulate, scaled by `lossScale`), then clipping and an `AdamW` step.
/// Not thread-safe: one thread drives a model, which fans work out to `threads` threads.
///
/// Memory: the classifier runs over chunks of positions, and a training forward pass runs its
/// backward chunk by chunk as well (each chunk's gradient goes into wte's gradient and ln_f's
/// output gradient before the next chunk), so the B·T·V logits are never stored; with
/// `activationCheckpointing` only each block's input is kept and backward recomputes the block.
///
/// Threading: when a batch has at least two sequences and `threads > 1`, the batch is cut into
/// `threads` slices that run forward and backward concurrently, each on one thread with
/// single-threaded OpenBLAS, and the slices' weight gradients are summed at the end of
/// `backward` (data parallelism inside the process: no synchronisation inside a step). A batch of
/// one sequence runs on every thread kernel by kernel (multi-threaded sgemm, split loops).
/// Dropout masks are indexed by position in the whole batch, so they do not depend on the split.
/// Each slice after the first adds into a gradient buffer of its own (`SliceGradients`), whose
/// ranges are summed into `gradients` as backward finishes them and, for a model large enough
/// (`SliceGradients.pageReleaseMinimumBytes`), given back to the kernel: what stays resident is
/// then wte's gradient and `sliceRangesInFlight` blocks' per extra slice.
///
/// OpenBLAS's thread count is process-wide: the model sets it to `threads` when created and
/// after every split pass, so give every model of a process the same `threads`.
public final class GPTModel {
    /// The model's shape (validated).
    public let config: GPTConfig
    /// Where each named tensor lives in `parameters`, `gradients` and the AdamW moments.
    public let layout: ParameterLayout
    /// Every parameter, `layout.count` floats.
    public let parameters: UnsafeMutableBufferPointer<Float>
    /// Every parameter's gradient, same layout; `backward` adds into it. Empty when the base is
    /// frozen (`lora` set): backward then computes no base weight gradient at all.
    public let gradients: UnsafeMutableBufferPointer<Float>
    /// The LoRA adapters, when the model has them: the base parameters are then frozen, and
    /// only the adapters have gradients (`trainedParameters`, `trainedGradients`).
    public let lora: LoRAAdapters?
    /// Whether the base parameters are frozen (LoRA on): they get no gradients, and the
    /// optimizer and the exchange work on the adapters' buffers instead.
    public var isBaseFrozen: Bool { lora != nil }
    /// The layout of the buffers that train: the adapters' with LoRA, else the parameters'.
    public var trainedLayout: any FlatLayout { lora?.layout ?? layout }
    /// `trainedLayout.count` and `.backwardRanges`, kept so a step reads them without boxing
    /// the layout.
    let trainedCount: Int
    let trainedBackwardRanges: [Range<Int>]
    /// What the optimizer updates: the adapters with LoRA, else every parameter.
    public var trainedParameters: UnsafeMutableBufferPointer<Float> { lora?.parameters ?? parameters }
    /// The gradients of `trainedParameters` (what backward announces in `gradientsFinal`).
    public var trainedGradients: UnsafeMutableBufferPointer<Float> { lora?.gradients ?? gradients }
    /// Threads this model's kernels use (OpenBLAS is set to the same number).
    public let threads: Int
    /// Training mode applies dropout; evaluation mode (false) does not.
    public var isTraining = true
    /// Whether a forward pass with targets keeps what `backward` needs (`torch.set_grad_enabled`).
    /// Off, forward skips that work (GELU's derivative) and `backward` is not allowed.
    public var gradientsEnabled = true
    /// Whether batches of several sequences are split across threads (see the type's notes);
    /// false runs every batch kernel by kernel on all threads.
    public var splitsBatchAcrossThreads = true
    /// Told during `backward` which gradients are final (ranges of `trainedGradients`): every
    /// index of the range holds its last value of this backward pass. Backward finishes the buffer from the back (ln_f, then each
    /// block from the last, then the embeddings at 0), one range after another; with
    /// `defersTokenEmbeddingGradient` wte comes first, right after lm_head's backward. A batch
    /// split across threads calls for each range once every slice has finished it and the
    /// slices' gradients of the range are summed, from the thread that finished last (calls
    /// never overlap, and come in backward order).
    /// Data parallelism starts sending gradients here while backward goes on; nil costs nothing.
    public var gradientsFinal: ((Range<Int>) -> Void)?
    /// When true, a backward pass of one slice leaves out of `gradients` what the embedding
    /// lookup adds to wte (one row per position) and keeps it in `deferredTokenGradient`
    /// instead, so wte's gradient is final as soon as lm_head's backward is done (lm_head is
    /// wte) and can travel while the blocks' backward runs. Ignored when the batch is split
    /// across threads.
    public var defersTokenEmbeddingGradient = false
    /// After a backward that deferred it: each position's token and its gradient row, to be
    /// added into wte's gradient (`tokens[i]`'s row gets `rows[i*C ..< (i+1)*C]`). Nil otherwise.
    public internal(set) var deferredTokenGradient: (tokens: UnsafeBufferPointer<Int32>, rows: UnsafeBufferPointer<Float>)?
    /// Called by `forward` before it reads a range of the trained parameters (wpe, then each
    /// block, then ln_f and wte for lm_head; with LoRA each block's adapters): a caller still
    /// gathering parameters waits there for the part it needs. Called from every slice's
    /// thread; nil costs nothing.
    public var parametersNeeded: ((Range<Int>) -> Void)?
    /// Called by `forward` once per pass, before the embedding lookup, with every token of the
    /// batch: the lookup reads only these rows of wte, so a caller still gathering wte may fetch
    /// just them (wte as a whole is needed again only by lm_head, at the end of the pass).
    /// Nil costs nothing.
    public var tokenRowsNeeded: ((UnsafeBufferPointer<Int32>) -> Void)?
    /// The factor of the loss whose gradient a training pass computes: nanoGPT divides the loss by
    /// the number of gradient-accumulation micro-steps before `backward()`. Read by `forward`,
    /// which runs the classifier's part of the backward pass.
    public var lossScale: Float = 1
    /// Keep only each block's input between forward and backward, and recompute the block's
    /// forward (same kernels, same order: the same gradients bit for bit) during its backward:
    /// one block's activations instead of n_layer's, for about a third more forward work.
    /// Takes effect at the next `reserve`.
    public var activationCheckpointing = false {
        didSet { if activationCheckpointing != oldValue { capacity = (0, 0, 0) } }
    }
    /// Most logits (floats) one slice's classifier holds at once: positions are taken in chunks
    /// of `classifierChunkFloats / vocabSize` rows (at least 64, a multiple of 8). Small
    /// vocabularies fit a whole slice in one chunk. Takes effect at the next `reserve`.
    public var classifierChunkFloats = 8 << 20 {
        didSet { if classifierChunkFloats != oldValue { capacity = (0, 0, 0) } }
    }
    /// Draws one key per training forward pass; every dropout mask of that pass derives from it.
    /// Save and restore it (`state`) to make a resumed run draw the same masks.
    public var dropoutGenerator: RandomGenerator

    /// One slice of the current batch and the buffers it runs in.
    final class Slice {
        let activations: Activations
        /// The adapters' saved projections and scratch (LoRA only).
        let lora: LoRAActivations?
        var batch = 0, batchOffset = 0
        var lossSum = 0.0
        init(activations: Activations, lora: LoRAActivations?) {
            self.activations = activations
            self.lora = lora
        }
    }

    var slices: [Slice] = []
    /// Tracks a split backward's ranges for `gradientsFinal` (made on first use).
    var splitProgress: SliceProgress?
    /// Logits [B, T, V] of the last forward pass without targets (made when first needed).
    var logitsStorage: UnsafeMutableBufferPointer<Float>?
    /// Gradients of slices after the first, summed into `gradients` range by range in `backward`.
    var sliceGradients: SliceGradients?
    /// The smallest slice gradient buffer that hands summed pages back (tests lower it before
    /// the first split pass to exercise that path on a small model).
    var slicePageReleaseMinimumBytes = SliceGradients.pageReleaseMinimumBytes
    /// The most bytes of GELU output a slice keeps for backward (tests set 0 to run the
    /// recomputing path on a small model). Takes effect at the next `reserve`.
    var keptGELUOutputMaximumBytes = Activations.keptGELUOutputMaximumBytes {
        didSet { if keptGELUOutputMaximumBytes != oldValue { capacity = (0, 0, 0) } }
    }
    /// Most ranges of the trained layout a slice after the first holds unsummed in backward
    /// (besides the embeddings', open from forward's classifier on): a slice that would start
    /// one more waits until the slowest slice has finished the oldest.
    static let sliceRangesInFlight = 2
    /// Capacity of the activations: sequences per slice, tokens per sequence, whole batch.
    var capacity = (sliceBatch: 0, seq: 0, batch: 0)
    let splitter: WorkSplitter
    // What the last forward pass saw, for backward.
    var batch = 0, seq = 0, activeSlices = 0
    var countedTargets = 0
    var backwardReady = false
    var lastPassHadTargets = false
    var stepKey: UInt64 = 0
    var dropoutActive = false
    var loraDropoutActive = false

    /// A model with nanoGPT's initialisation drawn from `seed`. `threads` is the total number of
    /// threads this process may use for the model (OpenBLAS included). With `lora` the base is
    /// frozen and adapters (A drawn from `seed`, B zero) train instead.
    public convenience init(config: GPTConfig, seed: UInt64 = 1337,
                            threads: Int = ProcessInfo.processInfo.activeProcessorCount,
                            lora: LoRAConfig? = nil) throws {
        var generator = TorchGenerator(seed: seed)
        try self.init(config: config, initializingFrom: &generator, dropoutSeed: seed, threads: threads, lora: lora)
    }

    /// A model initialised from `generator` (see `initializeParameters(generator:)`), which is
    /// left where nanoGPT's first batch reads it. `dropoutSeed` seeds `dropoutGenerator` and,
    /// with `lora`, the adapters' A (which draw nothing from `generator`).
    /// With `initialize` false the parameters are left at zero and `generator` untouched (for a
    /// caller that overwrites them all at once, as loading a checkpoint does: the 124M shape's
    /// draws took seconds of `sample`'s and `serve`'s start).
    public init(config: GPTConfig, initializingFrom generator: inout TorchGenerator, dropoutSeed: UInt64,
                threads: Int = ProcessInfo.processInfo.activeProcessorCount, lora: LoRAConfig? = nil,
                initialize: Bool = true) throws {
        try config.validate()
        try lora?.validate()
        self.config = config
        layout = ParameterLayout(config: config)
        self.threads = max(1, threads)
        splitter = WorkSplitter(threads: self.threads)
        parameters = .allocate(capacity: layout.count)
        parameters.initialize(repeating: 0)
        self.lora = lora.map { LoRAAdapters(model: config, lora: $0, seed: dropoutSeed) }
        // A frozen base has no gradients: one float allocated, none in view.
        let gradientCount = lora == nil ? layout.count : 0
        let allocated = UnsafeMutableBufferPointer<Float>.allocate(capacity: max(1, gradientCount))
        allocated.initialize(repeating: 0)
        gradients = UnsafeMutableBufferPointer(rebasing: allocated[0..<gradientCount])
        trainedCount = self.lora?.layout.count ?? layout.count
        trainedBackwardRanges = self.lora?.layout.backwardRanges ?? layout.backwardRanges
        dropoutGenerator = RandomGenerator(seed: dropoutSeed ^ 0x6A09_E667_F3BC_C908)
        openblas_set_num_threads(Int32(self.threads))
        if initialize { initializeParameters(generator: &generator) }
    }

    deinit {
        parameters.deallocate()
        gradients.baseAddress?.deallocate()
        logitsStorage?.deallocate()
    }

    /// Re-draws every parameter as nanoGPT's `GPT(config)` does after `torch.manual_seed(seed)`
    /// (see `initializeParameters(generator:)`).
    public func initializeParameters(seed: UInt64) {
        var generator = TorchGenerator(seed: seed)
        initializeParameters(generator: &generator)
    }

    /// Draws every parameter from `generator` exactly as nanoGPT's model.py does from PyTorch's
    /// generator, so the same seed gives nanoGPT's initial weights: normal(0, 0.02) for Linear
    /// weights and both embeddings, normal(0, 0.02/√(2·n_layer)) for each `c_proj.weight`, zero
    /// biases, LayerNorm weights 1. The draws that PyTorch makes and then overwrites are made too
    /// (in order), since they move the stream: the default init of each module as it is built
    /// (`nn.Embedding`: normal(0, 1); `nn.Linear`: uniform weight and bias), `_init_weights` over
    /// the modules in `apply` order (which draws the tied wte/lm_head weight twice, the second
    /// time as lm_head), then the `c_proj.weight` redraws. The generator ends where nanoGPT's
    /// first `get_batch` reads it.
    public func initializeParameters(generator g: inout TorchGenerator) {
        let c = config.nEmbd, v = config.vocabSize
        let linears = [(3 * c, c), (c, c), (4 * c, c), (c, 4 * c)]  // (out, in): c_attn, attn.c_proj, c_fc, mlp.c_proj
        func fill(_ offset: Int, _ count: Int, std: Float) {
            g.fillNormal(UnsafeMutableBufferPointer(rebasing: parameters[offset..<(offset + count)]), mean: 0, std: std)
        }
        // Modules as they are built (values overwritten below; wte and wpe's own buffers serve).
        fill(layout.tokenEmbedding, v * c, std: 1)
        fill(layout.positionEmbedding, config.blockSize * c, std: 1)
        for _ in 0..<config.nLayer {
            for (outFeatures, inFeatures) in linears {
                g.skipUniform(count: outFeatures * inFeatures + (config.bias ? outFeatures : 0))
            }
        }
        g.skipUniform(count: v * c)  // lm_head (no bias)

        for t in layout.tensors where t.initStd == nil {
            UnsafeMutableBufferPointer(rebasing: parameters[t.range]).update(repeating: t.initValue)
        }
        // _init_weights, module by module.
        fill(layout.tokenEmbedding, v * c, std: 0.02)
        fill(layout.positionEmbedding, config.blockSize * c, std: 0.02)
        for b in layout.blocks {
            for (offset, (outFeatures, inFeatures)) in zip([b.attnWeight, b.attnProjWeight, b.fcWeight, b.mlpProjWeight], linears) {
                fill(offset, outFeatures * inFeatures, std: 0.02)
            }
        }
        fill(layout.tokenEmbedding, v * c, std: 0.02)  // lm_head: the tied weight again
        // The c_proj redraws, in named_parameters order, at the layout's 0.02/√(2·n_layer).
        for t in layout.tensors where t.name.hasSuffix("c_proj.weight") {
            fill(t.offset, t.count, std: t.initStd!)
        }
    }

    /// The parameters of the tensor called `name` (`lm_head.weight` is wte), or nil.
    public func parameter(named name: String) -> UnsafeMutableBufferPointer<Float>? {
        layout.tensor(named: name).map { UnsafeMutableBufferPointer(rebasing: parameters[$0.range]) }
    }

    /// The gradient of the tensor called `name`, or nil (always nil when the base is frozen).
    public func gradient(named name: String) -> UnsafeMutableBufferPointer<Float>? {
        guard !isBaseFrozen else { return nil }
        return layout.tensor(named: name).map { UnsafeMutableBufferPointer(rebasing: gradients[$0.range]) }
    }

    /// Sets every trained gradient to zero (call before the first micro-batch of a step).
    public func zeroGradients() {
        let trained = trainedGradients, g = trained.baseAddress!
        splitter.run(trained.count, costPerItem: 1) { range, _ in
            (g + range.lowerBound).update(repeating: 0, count: range.count)
        }
    }

    /// Number of slices a batch of `batchSize` sequences is cut into.
    func sliceCount(batchSize: Int) -> Int {
        splitsBatchAcrossThreads ? max(1, min(threads, batchSize)) : 1
    }

    /// Allocates the activations for batches of up to `batchSize` sequences of up to
    /// `sequenceLength` tokens, so no step allocates. `forward` calls it when a batch is bigger.
    public func reserve(batchSize: Int, sequenceLength: Int) {
        let parts = sliceCount(batchSize: batchSize)
        let perSlice = (batchSize + parts - 1) / parts
        let enough = capacity.sliceBatch >= perSlice && capacity.seq >= sequenceLength
            && capacity.batch >= batchSize && slices.count >= parts
        if enough { return }
        let sliceBatch = max(perSlice, capacity.sliceBatch), t = max(sequenceLength, capacity.seq)
        let total = max(batchSize, capacity.batch)
        let count = max(parts, slices.count)
        slices = []
        let chunkRows = max(64, classifierChunkFloats / config.vocabSize) / 8 * 8
        for _ in 0..<count {
            slices.append(Slice(activations: Activations(config: config, batch: sliceBatch, seq: t, threads: threads,
                                                         recomputesBlocks: activationCheckpointing,
                                                         chunkRows: chunkRows,
                                                         keptGELUOutputMaximumBytes: keptGELUOutputMaximumBytes),
                                lora: lora.map { LoRAActivations(config: config, lora: $0.config, positions: sliceBatch * t) }))
        }
        if count > 1 && sliceGradients == nil {
            sliceGradients = SliceGradients(count: trainedCount, slices: threads - 1,
                                            releaseMinimumBytes: slicePageReleaseMinimumBytes)
        }
        capacity = (sliceBatch, t, total)
    }

    /// Positions (batch × sequence) of the last forward pass.
    public var lastPassPositions: Int { batch * seq }

    /// Logits [B, T, V] of the last forward pass without targets (empty after one with targets,
    /// which keeps one chunk of positions' logits at a time).
    public var logits: UnsafeBufferPointer<Float> {
        guard let l = logitsStorage, !lastPassHadTargets else { return UnsafeBufferPointer(start: nil, count: 0) }
        return UnsafeBufferPointer(start: l.baseAddress, count: batch * seq * config.vocabSize)
    }

    /// What the model has allocated, in bytes, by kind.
    public struct Memory {
        /// Parameters (the adapters' included) and the trained gradients (the adapters' alone
        /// when the base is frozen).
        public var parameters: Int, gradients: Int
        /// The most of the gradient buffers of batch slices after the first (a batch split
        /// across threads) that is resident at once: per extra slice, the embeddings', ln_f's
        /// and `sliceRangesInFlight` blocks' gradients when summed pages are handed back, the
        /// whole layout's when the model is too small for that to pay.
        public var sliceGradients: Int
        /// Activations kept between forward and backward (residual stream, blocks, ln_f, lse).
        public var activations: Int
        /// Buffers reused inside a pass: backward's gradients of activations, the classifier's
        /// chunk, attention's scratch, and the logits of passes without targets.
        public var workspace: Int
    }

    /// The memory this model has allocated now (see `reserve`).
    public var memory: Memory {
        let f = MemoryLayout<Float>.size
        let stored = slices.reduce(0) { $0 + $1.activations.storedFloats + ($1.lora?.storedFloats ?? 0) }
        let workspace = slices.reduce(0) { $0 + $1.activations.workspaceFloats + ($1.lora?.workspaceFloats ?? 0) }
            + (logitsStorage?.count ?? 0)
        let adapters = lora?.layout.count ?? 0
        return Memory(parameters: (layout.count + adapters) * f, gradients: trainedCount * f,
                      sliceGradients: residentSliceGradientFloats * f, activations: stored * f,
                      workspace: workspace * f)
    }

    /// Floats of the slices' gradient buffers resident at most during a step (see `memory`).
    private var residentSliceGradientFloats: Int {
        guard let extra = sliceGradients, slices.count > 1 else { return 0 }
        guard extra.releasesPages else { return (slices.count - 1) * trainedCount }
        let ranges = trainedBackwardRanges
        let blocks = ranges.dropFirst().dropLast().map(\.count).max() ?? 0
        let perSlice = ranges.first!.count + ranges.last!.count
            + min(Self.sliceRangesInFlight, ranges.count - 2) * blocks
        return (slices.count - 1) * perSlice
    }

    /// Bytes of activation memory currently reserved (stored, workspace and slice gradients).
    public var activationBytes: Int {
        let m = memory
        return m.activations + m.workspace + m.sliceGradients
    }

    var dropoutProbability: Double { isTraining ? config.dropout : 0 }

    /// The dropout mask of `site` for the current pass, or nil when dropout is off.
    func mask(site: DropoutSite) -> DropoutMask? {
        dropoutActive ? DropoutMask(stepKey: stepKey, site: site, probability: config.dropout) : nil
    }

    /// Runs `body(slice index)` for the first `activeSlices` slices: concurrently, each with
    /// single-threaded OpenBLAS, when there are several.
    func forEachSlice(_ body: (Int) -> Void) {
        if activeSlices == 1 {
            body(0)
            return
        }
        openblas_set_num_threads(1)
        DispatchQueue.concurrentPerform(iterations: activeSlices) { k in
            MatrixProductTrace.runAsLane(k) { body(k) }
        }
        openblas_set_num_threads(Int32(threads))
    }

    /// Times the matrix products of `step` (some calls of `forward`/`backward` on this model) on
    /// their own: runs `step` once, recording its sgemm calls, then runs just those calls again
    /// `repeats` times, each batch slice on a thread of its own as in the step. Returns the
    /// number of calls, their FLOPs and the best replay's seconds, or nil when the step ran a
    /// batch kernel by kernel (not split across threads), which a replay cannot reproduce.
    /// The replays overwrite activations and gradients: for benchmarks, after the timed steps.
    public func timeMatrixProducts(of step: () throws -> Void, repeats: Int = 20) rethrows
        -> (calls: Int, flops: Double, seconds: Double)? {
        let trace = try MatrixProductTrace.record(step)
        guard !trace.hasUnslicedCalls, trace.callCount > 0 else { return nil }
        var best = Double.infinity
        for _ in 0..<max(1, repeats) { best = min(best, trace.replay()) }
        return (trace.callCount, trace.flops, best)
    }
}
