/// The two parts of a dataset.
public enum DataSplit: String, Sendable, CaseIterable, Codable {
    case train
    case val
}

/// What a random window is drawn for; each purpose has its own independent stream.
public enum WindowPurpose: UInt64, Sendable {
    /// The batches of optimizer steps.
    case training = 1
    /// nanoGPT-style loss estimates from `eval_iters` random batches.
    case evaluation = 2
}

/// Where random training windows start: nanoGPT's `torch.randint(len(data) - block_size)` made
/// counter-based, so any window can be computed on its own from (seed, split, purpose, step,
/// sequence) with no generator state to carry, save or share between ranks.
///
/// The global batch of step `s` is the list of sequences `0..<globalBatch`; sequence `j` starts
/// at `start(..., step: s, sequence: j)`, uniform in `0...tokenCount - blockSize - 1` (the last
/// start leaves room for the target shifted by one).
public struct WindowSampler: Sendable, Equatable {
    public var seed: UInt64

    public init(seed: UInt64) { self.seed = seed }

    /// The first token of sequence `sequence` of step `step`, for a split of `tokenCount` tokens
    /// read in windows of `blockSize` (+1 for the targets). Requires `tokenCount > blockSize`.
    public func start(split: DataSplit, purpose: WindowPurpose, step: Int, sequence: Int,
                      tokenCount: Int, blockSize: Int) -> Int {
        precondition(tokenCount > blockSize, "split too short for the block size")
        let range = UInt64(tokenCount - blockSize)  // number of valid starts
        let h = hash(split: split, purpose: purpose, step: step, sequence: sequence)
        // Lemire's multiply-shift maps 64 random bits onto 0..<range without a division.
        return Int(h.multipliedFullWidth(by: range).high)
    }

    /// 64 well-mixed bits from the counters (SplitMix64's finaliser applied round by round).
    public func hash(split: DataSplit, purpose: WindowPurpose, step: Int, sequence: Int) -> UInt64 {
        var h = splitMix64(of: seed &+ 0x9E37_79B9_7F4A_7C15)
        h = splitMix64(of: h ^ (split == .train ? 0x7472_6169_6E00_0000 : 0x7661_6C00_0000_0000))
        h = splitMix64(of: h ^ purpose.rawValue)
        h = splitMix64(of: h ^ UInt64(bitPattern: Int64(step)))
        h = splitMix64(of: h ^ UInt64(bitPattern: Int64(sequence)))
        return h
    }
}

/// Which sequences of a step's global batch one rank reads in one micro-step.
///
/// A step's global batch has `worldSize * microStepsPerRank * batchSize` sequences. Rank `r`
/// reads them in rank-major order: its micro-step `a` takes sequences
/// `(r * microStepsPerRank + a) * batchSize ..< + batchSize`. So rank `r`'s micro-step `a` is
/// exactly micro-step `r * A + a` of a single process running all `N * A` micro-steps, the
/// union over ranks is the whole global batch, and no two ranks share a sequence.
public struct BatchLayout: Sendable, Equatable {
    public var worldSize: Int
    public var microStepsPerRank: Int
    public var batchSize: Int

    public init(worldSize: Int, microStepsPerRank: Int, batchSize: Int) {
        precondition(worldSize > 0 && microStepsPerRank > 0 && batchSize > 0)
        self.worldSize = worldSize
        self.microStepsPerRank = microStepsPerRank
        self.batchSize = batchSize
    }

    /// Sequences in one optimizer step over all ranks.
    public var globalBatch: Int { worldSize * microStepsPerRank * batchSize }

    /// The sequence indices rank `rank` reads at micro-step `microStep`.
    public func sequences(rank: Int, microStep: Int) -> Range<Int> {
        precondition(rank >= 0 && rank < worldSize && microStep >= 0 && microStep < microStepsPerRank)
        let first = (rank * microStepsPerRank + microStep) * batchSize
        return first..<(first + batchSize)
    }
}

/// Deterministic evaluation over every non-overlapping window of a split: window `i` has inputs
/// tokens `[i*T, i*T+T)` and targets tokens `[i*T+1, i*T+T+1)`.
public enum EvalWindows {
    /// How many whole windows a split of `tokenCount` tokens holds for block size `blockSize`
    /// (the last target token must exist, hence `tokenCount - 1`).
    public static func count(tokenCount: Int, blockSize: Int) -> Int {
        tokenCount > 1 ? (tokenCount - 1) / blockSize : 0
    }

    /// The contiguous share of `0..<count` that rank `rank` of `worldSize` evaluates; shares
    /// differ in size by at most one and together cover every window once.
    public static func share(of count: Int, rank: Int, worldSize: Int) -> Range<Int> {
        precondition(worldSize > 0 && rank >= 0 && rank < worldSize)
        let base = count / worldSize, extra = count % worldSize
        let lower = rank * base + min(rank, extra)
        return lower..<(lower + base + (rank < extra ? 1 : 0))
    }
}
