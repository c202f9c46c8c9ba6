import Foundation

/// `torch.optim.AdamW` over a model's flat buffers, with nanoGPT's two parameter groups: weight
/// decay on every tensor of 2 or more dimensions (Linear weights and both embeddings; lm_head is
/// wte, counted once), none on biases and LayerNorm weights.
///
/// It updates some `ranges` of the flat buffers and keeps the first and second moments `m` and `v`
/// of those only: the whole buffer on one rank, the rank's shard under ZeRO stage 1 (so the
/// moments take 1/N of the memory). The moments follow the layout of the buffer it trains (the
/// model's `ParameterLayout`, or its `LoRALayout` when the base is frozen), so a checkpoint
/// stores them under the tensors' names.
public final class AdamW {
    /// β₁ (nanoGPT default 0.9).
    public var beta1: Float
    /// β₂ (nanoGPT default 0.95).
    public var beta2: Float
    /// ε added to the denominator (PyTorch default 1e-8).
    public var eps: Float
    /// Decoupled weight decay of the decaying group (nanoGPT default 0.1).
    public var weightDecay: Float
    /// Steps taken so far; the bias correction of the next step uses `stepCount + 1`. Set it when
    /// restoring a checkpoint.
    public var stepCount: Int = 0
    /// The parts of the flat buffers this optimizer updates and keeps moments for, in
    /// increasing order: all of the buffer on one rank, the rank's shard under ZeRO stage 1.
    public let ranges: [Range<Int>]
    /// First moments of `ranges`, one after another (`m[0]` belongs to `ranges[0].lowerBound`).
    public let m: UnsafeMutableBufferPointer<Float>
    /// Second moments of `ranges`, as `m`.
    public let v: UnsafeMutableBufferPointer<Float>
    /// The layout of the buffers it optimises.
    public let layout: any FlatLayout
    private let splitter: WorkSplitter
    /// Runs of elements with one weight-decay setting: where they start in the flat buffers and
    /// in the moments.
    private let runs: [(parameter: Int, moment: Int, count: Int, decays: Bool)]

    /// An optimizer of the parameters in `ranges` of `layout`'s flat buffers (all by default).
    public init(layout: any FlatLayout, ranges: [Range<Int>]? = nil, beta1: Float = 0.9, beta2: Float = 0.95,
                eps: Float = 1e-8, weightDecay: Float = 0.1,
                threads: Int = ProcessInfo.processInfo.activeProcessorCount) {
        let ranges = (ranges ?? [0..<layout.count]).filter { !$0.isEmpty }
        precondition(zip(ranges, ranges.dropFirst()).allSatisfy { $0.upperBound <= $1.lowerBound }
                     && ranges.allSatisfy { $0.lowerBound >= 0 && $0.upperBound <= layout.count },
                     "AdamW ranges must be increasing and inside the layout")
        self.layout = layout
        self.ranges = ranges
        self.beta1 = beta1
        self.beta2 = beta2
        self.eps = eps
        self.weightDecay = weightDecay
        splitter = WorkSplitter(threads: threads, grain: 16_384)
        let total = ranges.reduce(0) { $0 + $1.count }
        // At least one element allocated, `total` in view.
        let first = UnsafeMutableBufferPointer<Float>.allocate(capacity: max(1, total))
        first.initialize(repeating: 0)
        let second = UnsafeMutableBufferPointer<Float>.allocate(capacity: max(1, total))
        second.initialize(repeating: 0)
        m = UnsafeMutableBufferPointer(rebasing: first[0..<total])
        v = UnsafeMutableBufferPointer(rebasing: second[0..<total])
        var runs: [(Int, Int, Int, Bool)] = []
        var moment = 0
        for range in ranges {
            for tensor in layout.tensors {
                let lower = max(range.lowerBound, tensor.offset), upper = min(range.upperBound, tensor.range.upperBound)
                if lower < upper { runs.append((lower, moment + lower - range.lowerBound, upper - lower, tensor.decays)) }
            }
            moment += range.count
        }
        self.runs = runs
    }

    /// An optimizer for `model`'s trained buffers (the adapters with LoRA; of the elements in
    /// `ranges`, all by default), using the model's thread count.
    public convenience init(model: GPTModel, ranges: [Range<Int>]? = nil, beta1: Float = 0.9, beta2: Float = 0.95,
                            eps: Float = 1e-8, weightDecay: Float = 0.1) {
        self.init(layout: model.trainedLayout, ranges: ranges, beta1: beta1, beta2: beta2, eps: eps, weightDecay: weightDecay,
                  threads: model.threads)
    }

    deinit {
        m.baseAddress?.deallocate()
        v.baseAddress?.deallocate()
    }

    /// Zeroes both moments and the step count.
    public func reset() {
        m.update(repeating: 0)
        v.update(repeating: 0)
        stepCount = 0
    }

    /// One AdamW step of the parameters in `ranges` along their gradients (both buffers in this
    /// optimizer's layout; only `ranges` of either is read or written) at `learningRate`,
    /// exactly as `torch.optim.AdamW`'s single-tensor update. `gradientScale` multiplies every
    /// gradient as it is read (the clipping coefficient, so clipping costs no pass of its own).
    public func step(parameters: UnsafeMutableBufferPointer<Float>, gradients: UnsafeBufferPointer<Float>,
                     learningRate: Float, gradientScale: Float = 1) {
        precondition(parameters.count == layout.count && gradients.count == layout.count)
        stepCount += 1  // on every rank, so every shard applies the same bias correction
        if m.isEmpty { return }
        let t = Double(stepCount)
        let b1 = Double(beta1), b2 = Double(beta2)
        let stepSize = Float(Double(learningRate) / (1 - pow(b1, t)))
        let correction2Sqrt = Float((1 - pow(b2, t)).squareRoot())
        // A multiply by the reciprocal instead of PyTorch's divide (1 ulp apart): two vector
        // divisions per element made this loop compute-bound.
        let inverseCorrection2Sqrt = 1 / correction2Sqrt
        let p = parameters.baseAddress!, g = gradients.baseAddress!
        let mm = m.baseAddress!, vv = v.baseAddress!
        let oneMinusBeta1 = 1 - beta1, oneMinusBeta2 = 1 - beta2
        let beta2 = self.beta2, eps = self.eps
        // One parallel region over the moments; each chunk walks the runs it overlaps.
        let decayed = 1 - learningRate * weightDecay
        let runs = self.runs
        splitter.run(m.count, costPerItem: 1) { chunk, _ in
            let decayV = Vec8(repeating: decayed), w1 = Vec8(repeating: oneMinusBeta1)
            let b2v = Vec8(repeating: beta2), w2 = Vec8(repeating: oneMinusBeta2)
            let c2 = Vec8(repeating: inverseCorrection2Sqrt), epsV = Vec8(repeating: eps)
            let stepV = Vec8(repeating: stepSize), one = Vec8(repeating: 1)
            let scaleV = Vec8(repeating: gradientScale)
            for run in runs {
                let start = max(run.moment, chunk.lowerBound)
                let end = min(run.moment + run.count, chunk.upperBound)
                if start >= end { continue }
                let decay: Float = run.decays ? decayed : 1
                let dv = run.decays ? decayV : one
                // Pointers to the run's first element in this chunk.
                let shift = run.parameter - run.moment
                let p = p + (start + shift), g = g + (start + shift), mm = mm + start, vv = vv + start
                let n = end - start
                var i = 0
                while i &+ 8 <= n {
                    let gi = load8(g + i) * scaleV
                    let mi = load8(mm + i)
                    // exp_avg.lerp_(grad, 1 - beta1); exp_avg_sq.mul_(beta2).addcmul_(grad, grad, 1 - beta2)
                    let m1 = mi + w1 * (gi - mi)
                    let v1 = load8(vv + i) * b2v + w2 * (gi * gi)
                    store8(m1, mm + i)
                    store8(v1, vv + i)
                    let denom = v1.squareRoot() * c2 + epsV
                    store8(load8(p + i) * dv - stepV * (m1 / denom), p + i)
                    i &+= 8
                }
                while i < n {
                    let gi = g[i] * gradientScale
                    let m1 = mm[i] + oneMinusBeta1 * (gi - mm[i])
                    let v1 = vv[i] * beta2 + oneMinusBeta2 * (gi * gi)
                    mm[i] = m1
                    vv[i] = v1
                    let denom = v1.squareRoot() * inverseCorrection2Sqrt + eps
                    p[i] = p[i] * decay - stepSize * (m1 / denom)
                    i &+= 1
                }
            }
        }
    }

    /// `step` on a model's trained buffers (clip first with `GPTModel.clipGradients` as PyTorch
    /// does; training clips through `gradientScale` in `DataParallelStep`).
    public func step(model: GPTModel, learningRate: Float) {
        step(parameters: model.trainedParameters, gradients: UnsafeBufferPointer(model.trainedGradients),
             learningRate: learningRate)
    }
}

/// Global-norm gradient clipping as `torch.nn.utils.clip_grad_norm_`.
public enum GradientClipping {
    /// The L2 norm of every gradient together (accumulated in Double).
    public static func globalNorm(_ gradients: UnsafeBufferPointer<Float>, threads: Int = 1) -> Float {
        Float(sumOfSquares(gradients, threads: threads).squareRoot())
    }

    /// The sum of the squared gradients, accumulated in Double: the global norm's square, or one
    /// rank's part of it in a sharded step.
    public static func sumOfSquares(_ gradients: UnsafeBufferPointer<Float>, threads: Int = 1) -> Double {
        guard let g = gradients.baseAddress else { return 0 }
        let splitter = WorkSplitter(threads: threads, grain: 65_536)
        // Per-thread sums on the stack: a training step allocates nothing.
        return withUnsafeTemporaryAllocation(of: Double.self, capacity: splitter.threads) { out in
            out.initialize(repeating: 0)
            splitter.run(gradients.count, costPerItem: 1) { range, chunk in
                var i = range.lowerBound
                var total = 0.0
                while i < range.upperBound {
                    let end = min(range.upperBound, i + 4096)
                    var acc = Vec8.zero
                    while i &+ 8 <= end { let x = load8(g + i); acc += x * x; i &+= 8 }
                    var s = Double(acc.sum())
                    while i < end { s += Double(g[i] * g[i]); i &+= 1 }
                    total += s
                }
                out[chunk] = total
            }
            return out.reduce(0, +)
        }
    }

    /// The factor clipping multiplies the gradients by: `min(maxNorm / (norm + 1e-6), 1)` as
    /// PyTorch computes it, or 1 when `maxNorm` is 0 (off).
    public static func coefficient(norm: Float, maxNorm: Float) -> Float {
        maxNorm > 0 ? min(maxNorm / (norm + 1e-6), 1) : 1
    }

    /// Scales `gradients` so their global norm is at most `maxNorm` (`clip_coef = maxNorm /
    /// (norm + 1e-6)`, clamped to 1, as PyTorch does) and returns the norm before clipping.
    /// `maxNorm` 0 means no clipping (nanoGPT's `grad_clip = 0`); the norm is still returned.
    @discardableResult
    public static func clip(_ gradients: UnsafeMutableBufferPointer<Float>, maxNorm: Float, threads: Int = 1) -> Float {
        let norm = globalNorm(UnsafeBufferPointer(gradients), threads: threads)
        let coefficient = coefficient(norm: norm, maxNorm: maxNorm)
        if coefficient < 1 {
            let g = gradients.baseAddress!
            WorkSplitter(threads: threads, grain: 65_536).run(gradients.count, costPerItem: 1) { range, _ in
                for i in range { g[i] *= coefficient }
            }
        }
        return norm
    }
}

extension GPTModel {
    /// Clips this model's trained gradients to global norm `maxNorm` (0 = off) and returns the
    /// norm before clipping.
    @discardableResult
    public func clipGradients(maxNorm: Float) -> Float {
        GradientClipping.clip(trainedGradients, maxNorm: maxNorm, threads: threads)
    }
}
