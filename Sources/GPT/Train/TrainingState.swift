/// Where a run stands between optimizer steps: what `/state` of a checkpoint records besides the
/// parameters and moments: the counters, and the batch generator (`BatchStream`) as the
/// iteration found it. Dropout masks are counter-based (pure functions of the seed, the step and
/// the micro-step), so they need nothing saved.
public struct TrainingState: Equatable, Sendable {
    /// The next optimizer step to take (nanoGPT's iter_num).
    public var iteration: Int
    /// Best val loss seen at an evaluation so far (nanoGPT's best_val_loss; 1e9 before any).
    public var bestValLoss: Double
    /// The seed of the data stream and the dropout masks.
    public var seed: Int
    /// Ranks of the run that wrote the state (informational: any rank count can resume it).
    public var worldSize: Int
    /// The batch generator as iteration `iteration` found it.
    public var dataStream: TorchGenerator?

    public init(iteration: Int = 0, bestValLoss: Double = 1e9, seed: Int, worldSize: Int = 1,
                dataStream: TorchGenerator? = nil) {
        self.iteration = iteration
        self.bestValLoss = bestValLoss
        self.seed = seed
        self.worldSize = worldSize
        self.dataStream = dataStream
    }
}

/// Seeds derived from (seed, step, index) by hashing, so any micro-step's randomness can be
/// computed on any rank without carrying generator state.
public enum CounterSeed {
    /// The dropout seed of global micro-step `microStep` (0..<gradient_accumulation_steps, over all
    /// ranks: rank r's local micro-step a is r * (A / N) + a) of optimizer step `step`.
    public static func dropout(seed: Int, step: Int, microStep: Int) -> UInt64 {
        let seedKey = splitMix64(of: UInt64(truncatingIfNeeded: seed) ^ 0xD1B5_4A32_D192_ED03)
        let stepKey = splitMix64(of: seedKey &+ UInt64(truncatingIfNeeded: step))
        return splitMix64(of: stepKey &+ UInt64(truncatingIfNeeded: microStep))
    }
}

/// A fingerprint of a parameter buffer: equal on two ranks exactly when their bits are equal
/// (up to hash collisions), so replicas that drift apart are caught.
public enum ReplicaChecksum {
    /// FNV-1a over the 32-bit patterns, folded 4 at a time for speed.
    public static func of(_ values: UnsafeBufferPointer<Float>) -> UInt64 {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        let n = values.count
        var i = 0
        values.withMemoryRebound(to: UInt32.self) { bits in
            while i + 4 <= n {
                let word = UInt64(bits[i]) | (UInt64(bits[i + 1]) << 32)
                let word2 = UInt64(bits[i + 2]) | (UInt64(bits[i + 3]) << 32)
                h = (h ^ word) &* 0x0000_0100_0000_01B3
                h = (h ^ word2) &* 0x0000_0100_0000_01B3
                i += 4
            }
            while i < n {
                h = (h ^ UInt64(bits[i])) &* 0x0000_0100_0000_01B3
                i += 1
            }
        }
        return h
    }
}
