import CBLAS
import Foundation

/// nanoGPT's GPT on flat Float32 buffers: parameters in one buffer, gradients in another (same
/// `layout`), activations preallocated for a (batch, block) shape and reused by every step.
///
/// A training step is `zeroGradients()`, then per micro-batch `forward(inputs:targets:...)` and
/// `backward(lossScale:)` (gradients accumulate), then an `AdamW` step. Not thread-safe: one
/// model is driven by one thread, which fans work out to `threads` threads itself.
public final class GPTModel {
    /// The model's shape (validated).
    public let config: GPTConfig
    /// Where each named tensor lives in `parameters`, `gradients` and the AdamW moments.
    public let layout: ParameterLayout
    /// Every parameter, `layout.count` floats.
    public let parameters: UnsafeMutableBufferPointer<Float>
    /// Every parameter's gradient, same layout; `backward` adds into it.
    public let gradients: UnsafeMutableBufferPointer<Float>
    /// Threads this model's kernels use (OpenBLAS is set to the same number).
    public let threads: Int
    /// Training mode applies dropout; evaluation mode (false) does not.
    public var isTraining = true
    /// Draws one key per training forward pass; every dropout mask of that pass derives from it.
    /// Save and restore it (`state`) to make a resumed run draw the same masks.
    public var dropoutGenerator: RandomGenerator

    var activations: Activations?
    let splitter: WorkSplitter
    // What the last forward pass saw, for backward.
    var batch = 0, seq = 0
    var countedTargets = 0
    var backwardReady = false
    var stepKey: UInt64 = 0
    var dropoutActive = false

    /// A model with nanoGPT's initialisation drawn from `seed`. `threads` is the total number of
    /// threads this process may use for the model (OpenBLAS included).
    public init(config: GPTConfig, seed: UInt64 = 1337,
                threads: Int = ProcessInfo.processInfo.activeProcessorCount) throws {
        try config.validate()
        self.config = config
        layout = ParameterLayout(config: config)
        self.threads = max(1, threads)
        splitter = WorkSplitter(threads: self.threads)
        parameters = .allocate(capacity: layout.count)
        parameters.initialize(repeating: 0)
        gradients = .allocate(capacity: layout.count)
        gradients.initialize(repeating: 0)
        dropoutGenerator = RandomGenerator(seed: seed ^ 0x6A09_E667_F3BC_C908)
        openblas_set_num_threads(Int32(self.threads))
        initializeParameters(seed: seed)
    }

    deinit {
        parameters.deallocate()
        gradients.deallocate()
    }

    /// Re-draws every parameter as nanoGPT's `_init_weights` does: normal(0, 0.02) for Linear
    /// weights and both embeddings, normal(0, 0.02/√(2·n_layer)) for each `c_proj.weight`, zero
    /// biases, LayerNorm weights 1. Draws tensor by tensor in state_dict order.
    public func initializeParameters(seed: UInt64) {
        var rng = RandomGenerator(seed: seed)
        parameters.update(repeating: 0)
        for t in layout.tensors {
            let view = UnsafeMutableBufferPointer(rebasing: parameters[t.range])
            if let std = t.initStd {
                rng.fillNormal(view, mean: 0, std: std)
            } else {
                view.update(repeating: t.initValue)
            }
        }
    }

    /// The parameters of the tensor called `name` (`lm_head.weight` is wte), or nil.
    public func parameter(named name: String) -> UnsafeMutableBufferPointer<Float>? {
        layout.tensor(named: name).map { UnsafeMutableBufferPointer(rebasing: parameters[$0.range]) }
    }

    /// The gradient of the tensor called `name`, or nil.
    public func gradient(named name: String) -> UnsafeMutableBufferPointer<Float>? {
        layout.tensor(named: name).map { UnsafeMutableBufferPointer(rebasing: gradients[$0.range]) }
    }

    /// Sets every gradient to zero (call before the first micro-batch of a step).
    public func zeroGradients() {
        let g = gradients.baseAddress!
        splitter.run(gradients.count, costPerItem: 1) { range, _ in
            (g + range.lowerBound).update(repeating: 0, count: range.count)
        }
    }

    /// Allocates the activations for batches of up to `batchSize` sequences of up to
    /// `sequenceLength` tokens, so no step allocates. `forward` calls it when a batch is bigger.
    public func reserve(batchSize: Int, sequenceLength: Int) {
        if let a = activations, a.batch >= batchSize, a.seq >= sequenceLength { return }
        let b = max(batchSize, activations?.batch ?? 0)
        let t = max(sequenceLength, activations?.seq ?? 0)
        activations = nil
        activations = Activations(config: config, batch: b, seq: t, threads: threads)
    }

    /// Logits [B, T, V] of the last forward pass. `backward` overwrites them with their gradient.
    public var logits: UnsafeBufferPointer<Float> {
        guard let a = activations else { return UnsafeBufferPointer(start: nil, count: 0) }
        return UnsafeBufferPointer(start: a.logits, count: batch * seq * config.vocabSize)
    }

    /// Bytes of activation memory currently reserved.
    public var activationBytes: Int { (activations?.storage.count ?? 0) * MemoryLayout<Float>.size }

    var dropoutProbability: Double { isTraining ? config.dropout : 0 }
}
