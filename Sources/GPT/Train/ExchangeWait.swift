/// The collective a rank is about to wait in (the gradient exchange's, or the trainer's own):
/// what the watchdog names when the wait never ends, and what a rank tells its peers it waits
/// in. A value, so reporting it on every wait allocates nothing.
public enum ExchangeWait: Equatable, Sendable, CustomStringConvertible {
    /// The reduction of gradient bucket `index` (0-based) of `count`: a reduce-scatter under
    /// ZeRO stage 1, an allreduce under stage 0.
    case gradientBucket(index: Int, count: Int, reduceScatter: Bool)
    /// The allgather of the token-embedding rows each rank's backward deferred.
    case tokenRows
    /// The allreduce of the step's loss, stop flag and gradient norm.
    case stepSums
    /// The allgather of the new parameters of bucket `index` (0-based) of `count` (ZeRO stage 1).
    case parameterBucket(index: Int, count: Int)
    /// The allgathers of the token-embedding rows the first forward after an update reads.
    case tokenRowFetch
    /// The allreduce of the evaluation losses.
    case evaluationLosses
    /// The allreduces comparing the replicas' parameter checksums.
    case replicaChecksums
    /// Sending this rank's AdamW moments to rank 0 for the checkpoint.
    case checkpointMoments
    /// The broadcast of whether rank 0 wrote the checkpoint.
    case checkpointOutcome

    public var description: String {
        switch self {
        case let .gradientBucket(index, count, reduceScatter):
            return "the \(reduceScatter ? "reduce-scatter" : "allreduce") of gradient bucket \(index + 1) of \(count)"
        case .tokenRows: return "the allgather of the deferred token-embedding rows"
        case .stepSums: return "the allreduce of the step's loss and gradient norm"
        case let .parameterBucket(index, count): return "the allgather of parameter bucket \(index + 1) of \(count)"
        case .tokenRowFetch: return "the allgather of the token-embedding rows the forward reads"
        case .evaluationLosses: return "the allreduce of the evaluation losses"
        case .replicaChecksums: return "the allreduce comparing the replicas' checksums"
        case .checkpointMoments: return "the sending of AdamW's moments to rank 0 for the checkpoint"
        case .checkpointOutcome: return "the broadcast of the checkpoint write's outcome"
        }
    }
}
