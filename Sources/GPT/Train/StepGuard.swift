/// Decides before AdamW whether an optimizer step's update is taken: a step whose loss or
/// gradient norm is not finite, or whose loss (norm) lies more than `lossZScore` (`gradZScore`)
/// standard deviations above the mean of the last `windowSize` accepted steps, is skipped, so
/// a NaN or a spike never reaches the parameters or the moments. Every rank sees the same loss
/// and norm (they are summed over ranks in one allreduce), so every rank decides alike.
///
/// As llm.c's outlier detector, a z-score is computed only once the window is full; unlike it,
/// only accepted steps enter the window, so a run of spikes does not teach the guard to accept
/// them. The window is not saved: a resumed run fills it again.
public struct StepGuard: Sendable {
    /// Accepted steps the mean and deviation are taken over (llm.c's window).
    public static let windowSize = 128

    /// The guard's settings (0 turns a z-score test off).
    public var lossZScore: Double
    public var gradZScore: Double

    /// Steps skipped in a row up to the last decision, and in all.
    public private(set) var consecutiveSkips = 0
    public private(set) var totalSkips = 0

    private var losses = RunningWindow(capacity: StepGuard.windowSize)
    private var norms = RunningWindow(capacity: StepGuard.windowSize)

    public init(lossZScore: Double = 0, gradZScore: Double = 0) {
        self.lossZScore = lossZScore
        self.gradZScore = gradZScore
    }

    /// Why a step is skipped.
    public enum SkipReason: Equatable, Sendable, CustomStringConvertible {
        case lossNotFinite(Double)
        case normNotFinite(Double)
        case lossSpike(zScore: Double)
        case normSpike(zScore: Double)

        /// The identifier metrics.jsonl records.
        public var code: String {
            switch self {
            case .lossNotFinite: return "loss_not_finite"
            case .normNotFinite: return "grad_norm_not_finite"
            case .lossSpike: return "loss_spike"
            case .normSpike: return "grad_norm_spike"
            }
        }

        public var description: String {
            switch self {
            case .lossNotFinite(let loss): return "loss is \(loss)"
            case .normNotFinite(let norm): return "gradient norm is \(norm)"
            case .lossSpike(let z): return "loss is \(formatted(z)) standard deviations above its running mean"
            case .normSpike(let z): return "gradient norm is \(formatted(z)) standard deviations above its running mean"
            }
        }
    }

    /// Whether to take the update of a step with this loss and (unclipped) gradient norm; nil
    /// means take it. Updates the counters and, for an accepted step, the running windows.
    public mutating func check(loss: Double, gradientNorm: Double) -> SkipReason? {
        let reason = skipReason(loss: loss, gradientNorm: gradientNorm)
        if reason == nil {
            consecutiveSkips = 0
            losses.add(loss)
            norms.add(gradientNorm)
        } else {
            consecutiveSkips += 1
            totalSkips += 1
        }
        return reason
    }

    private func skipReason(loss: Double, gradientNorm: Double) -> SkipReason? {
        if !loss.isFinite { return .lossNotFinite(loss) }
        if !gradientNorm.isFinite { return .normNotFinite(gradientNorm) }
        if lossZScore > 0, let z = losses.zScore(of: loss), z > lossZScore { return .lossSpike(zScore: z) }
        if gradZScore > 0, let z = norms.zScore(of: gradientNorm), z > gradZScore { return .normSpike(zScore: z) }
        return nil
    }
}

/// The last `capacity` values of a series, in a ring that is allocated once.
struct RunningWindow: Sendable {
    private var values: [Double]
    private var next = 0
    private(set) var count = 0

    init(capacity: Int) { values = [Double](repeating: 0, count: capacity) }

    mutating func add(_ value: Double) {
        values[next] = value
        next = (next + 1) % values.count
        count = min(count + 1, values.count)
    }

    /// How many standard deviations `value` lies above the window's mean; nil until the window is
    /// full or while its values are all equal.
    func zScore(of value: Double) -> Double? {
        guard count == values.count else { return nil }
        let mean = values.reduce(0, +) / Double(count)
        let variance = values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(count)
        guard variance > 0 else { return nil }
        return (value - mean) / variance.squareRoot()
    }
}

private func formatted(_ value: Double) -> String {
    let rounded = (value * 10).rounded() / 10
    return "\(rounded)"
}
