/// Which sequences of a step's global batch one rank reads in one micro-step.
///
/// A step's global batch has `worldSize * microStepsPerRank * batchSize` sequences. Rank `r`
/// reads them in rank-major order: its micro-step `a` takes sequences
/// `(r * microStepsPerRank + a) * batchSize ..< + batchSize`. So rank `r`'s micro-step `a` is
/// exactly micro-step `r * A + a` of a single process running all `N * A` micro-steps, the
/// union over ranks is the whole global batch, and no two ranks share a sequence.
///
/// An evaluation block has as many sequences as the global batch; rank `r` evaluates the `r`-th
/// `batchSize` of it (`evaluationSequences`), as each of nanoGPT's DDP ranks evaluates one batch.
///
/// The layout checks its numbers where they come in (`init`, the rank and micro-step of each
/// request) and throws `DataError.invalidRequest`, so a bad value never reaches an array index.
public struct BatchLayout: Sendable, Equatable {
    public let worldSize: Int
    public let microStepsPerRank: Int
    public let batchSize: Int

    /// Throws when a count is below 1.
    public init(worldSize: Int, microStepsPerRank: Int, batchSize: Int) throws {
        guard worldSize > 0, microStepsPerRank > 0, batchSize > 0 else {
            throw DataError.invalidRequest(
                "a batch layout needs at least one rank, micro-step and sequence (got \(worldSize) ranks, \(microStepsPerRank) micro-steps, batch size \(batchSize))")
        }
        self.worldSize = worldSize
        self.microStepsPerRank = microStepsPerRank
        self.batchSize = batchSize
    }

    /// Sequences in one optimizer step over all ranks (nanoGPT's batch_size ×
    /// gradient_accumulation_steps).
    public var globalBatch: Int { worldSize * microStepsPerRank * batchSize }

    /// The sequence indices rank `rank` reads at micro-step `microStep`.
    public func sequences(rank: Int, microStep: Int) throws -> Range<Int> {
        try check(rank: rank)
        guard microStep >= 0, microStep < microStepsPerRank else {
            throw DataError.invalidRequest("micro-step \(microStep) is outside the \(microStepsPerRank) micro-steps of a rank")
        }
        let first = (rank * microStepsPerRank + microStep) * batchSize
        return first..<(first + batchSize)
    }

    /// The sequence indices, within an evaluation block of `globalBatch`, that rank `rank`
    /// evaluates: its `batchSize` of them.
    public func evaluationSequences(rank: Int) throws -> Range<Int> {
        try check(rank: rank)
        return (rank * batchSize)..<((rank + 1) * batchSize)
    }

    private func check(rank: Int) throws {
        guard rank >= 0, rank < worldSize else {
            throw DataError.invalidRequest("rank \(rank) is outside the \(worldSize) ranks of the batch layout")
        }
    }
}
