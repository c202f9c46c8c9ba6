import Foundation

/// A training run that cannot go on; one line naming what is wrong.
public enum TrainError: Error, CustomStringConvertible, LocalizedError, Equatable {
    /// The replicas' parameters differ after an optimizer step (they must stay bit-identical).
    case replicasDiverged(iteration: Int, minimum: UInt64, maximum: UInt64)
    /// Rank 0 failed at something the other ranks waited for (it reports the cause itself).
    case peerFailed(rank: Int, during: String)
    /// `StepGuard` skipped max_skipped_steps updates in a row (the last for `reason`).
    case tooManySkippedSteps(iteration: Int, count: Int, reason: String)
    /// A checkpoint to resume from or fine-tune that does not fit this run.
    case incompatibleCheckpoint(path: String, problem: String)

    public var description: String {
        switch self {
        case .replicasDiverged(let iteration, let minimum, let maximum):
            return "replicas diverged: parameter checksums differ across ranks at iteration \(iteration) (\(String(minimum, radix: 16)) vs \(String(maximum, radix: 16)))"
        case .peerFailed(let rank, let during):
            return "rank \(rank) failed during \(during)"
        case .tooManySkippedSteps(let iteration, let count, let reason):
            return "stopping at iteration \(iteration): \(count) updates in a row skipped (max_skipped_steps: \(count)), the last because its \(reason); the parameters never took them and out_dir's checkpoint is untouched: lower learning_rate or check the data"
        case .incompatibleCheckpoint(let path, let problem):
            return "\(path): \(problem)"
        }
    }
    public var errorDescription: String? { description }
}

/// An error every rank knows about at the same point (rank 0 failed at something it then told the
/// others), so the ranks can all stop normally instead of aborting the job.
public struct CollectiveFailure: Error, CustomStringConvertible, LocalizedError {
    /// What went wrong (on rank 0).
    public let underlying: Error
    public init(_ underlying: Error) { self.underlying = underlying }
    public var description: String { "\(underlying)" }
    public var errorDescription: String? { description }
}

extension Error {
    /// True when every rank of the job stops with this error at the same point, so they can all
    /// end normally: config problems, rank 0's broadcast failures, and problems computed from
    /// values the ranks share (skipped updates, diverged replicas).
    public var isCollective: Bool {
        if self is TrainConfigError || self is CollectiveFailure { return true }
        if let error = self as? TrainError {
            switch error {
            case .peerFailed, .tooManySkippedSteps, .replicasDiverged: return true
            case .incompatibleCheckpoint: return false
            }
        }
        return false
    }
}
