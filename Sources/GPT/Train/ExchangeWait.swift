/// The collective the gradient exchange is about to wait for: what the watchdog names when the
/// wait never ends. A value, so reporting it on every wait allocates nothing.
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

    public var description: String {
        switch self {
        case let .gradientBucket(index, count, reduceScatter):
            return "the \(reduceScatter ? "reduce-scatter" : "allreduce") of gradient bucket \(index + 1) of \(count)"
        case .tokenRows: return "the allgather of the deferred token-embedding rows"
        case .stepSums: return "the allreduce of the step's loss and gradient norm"
        case let .parameterBucket(index, count): return "the allgather of parameter bucket \(index + 1) of \(count)"
        }
    }
}
