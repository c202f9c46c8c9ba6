import Foundation

/// nanoGPT's learning-rate schedule (train.py's get_lr): linear warmup to `learningRate`, cosine
/// decay to `minLR` at `decayIterations`, then `minLR`; a constant `learningRate` when decay is off.
public struct LRSchedule: Equatable, Sendable {
    public var learningRate: Double
    public var minLR: Double
    public var warmupIterations: Int
    public var decayIterations: Int
    public var decay: Bool

    public init(learningRate: Double, minLR: Double, warmupIterations: Int, decayIterations: Int, decay: Bool = true) {
        self.learningRate = learningRate
        self.minLR = minLR
        self.warmupIterations = warmupIterations
        self.decayIterations = decayIterations
        self.decay = decay
    }

    public init(_ config: TrainConfig) {
        self.init(learningRate: config.learning_rate, minLR: config.min_lr, warmupIterations: config.warmup_iters,
                  decayIterations: config.lr_decay_iters, decay: config.decay_lr)
    }

    /// The learning rate of optimizer step `iteration` (0-based, as nanoGPT's iter_num).
    public func learningRate(at iteration: Int) -> Double {
        guard decay else { return learningRate }
        // 1) linear warmup for warmup_iters steps
        if iteration < warmupIterations {
            return learningRate * Double(iteration + 1) / Double(warmupIterations + 1)
        }
        // 2) past lr_decay_iters, the minimum
        if iteration > decayIterations { return minLR }
        // 3) in between, cosine decay down to the minimum
        let ratio = Double(iteration - warmupIterations) / Double(decayIterations - warmupIterations)
        let coefficient = 0.5 * (1.0 + cos(Double.pi * ratio))
        return minLR + coefficient * (learningRate - minLR)
    }
}
