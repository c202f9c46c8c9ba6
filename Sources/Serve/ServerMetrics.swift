import Dispatch
import Foundation
import Prometheus

/// The server's Prometheus metrics (swift-prometheus's registry, rendered by `GET /metrics`):
/// HTTP requests by route and status, completions by finish reason, prompt and completion
/// tokens, queue depth, active sequences, decode steps and rows, and the decode rate.
final class ServerMetrics: @unchecked Sendable {
    let registry = PrometheusCollectorRegistry()
    private let promptTokens: Counter
    private let completionTokens: Counter
    private let queueDepth: Gauge
    private let activeSequences: Gauge
    private let decodeSteps: Counter
    private let decodeRows: Counter
    private let cancelled: Counter
    private let decodeRate: Gauge
    /// Decode steps of the last `window` seconds: when each ended, its rows and its duration.
    /// Kept to the window as steps are recorded (so it stays bounded however rarely /metrics is read):
    /// entries before `firstRecent` are expired and dropped in bulk.
    private var recentSteps: [(end: UInt64, rows: Int, nanoseconds: UInt64)] = []
    private var firstRecent = 0
    private let lock = NSLock()
    /// The decode rate is taken over the steps that ended this many seconds ago or less.
    static let window: UInt64 = 10

    init() {
        promptTokens = registry.makeCounter(name: "gpt_dist_prompt_tokens_total", help: "Prompt tokens of accepted completions.")
        completionTokens = registry.makeCounter(name: "gpt_dist_completion_tokens_total", help: "Tokens generated.")
        queueDepth = registry.makeGauge(name: "gpt_dist_queue_depth", help: "Completions waiting for a decoding slot.")
        activeSequences = registry.makeGauge(name: "gpt_dist_active_sequences", help: "Completions being decoded.")
        decodeSteps = registry.makeCounter(name: "gpt_dist_decode_steps_total", help: "Batched decode steps run.")
        decodeRows = registry.makeCounter(name: "gpt_dist_decode_rows_total",
                                          help: "Sequence positions decoded by those steps (rows / steps = mean batch).")
        cancelled = registry.makeCounter(name: "gpt_dist_completions_cancelled_total",
                                         help: "Completions dropped because their client went away.")
        decodeRate = registry.makeGauge(name: "gpt_dist_decode_tokens_per_second",
                                        help: "Rows per second of decode-step time over the steps of the last 10 s (0 when idle).")
    }

    /// Counts one answered HTTP request.
    func request(route: String, status: Int) {
        registry.makeCounter(name: "gpt_dist_http_requests_total", labels: [("route", route), ("code", String(status))],
                             help: "HTTP requests answered, by route and status code.").increment()
    }

    /// Counts one finished completion and its tokens.
    func completion(reason: String, usage: Usage) {
        registry.makeCounter(name: "gpt_dist_completions_total", labels: [("finish_reason", reason)],
                             help: "Completions finished, by finish_reason.").increment()
        promptTokens.increment(by: Int64(usage.promptTokens))
        completionTokens.increment(by: Int64(usage.completionTokens))
    }

    /// Counts a completion whose client went away.
    func cancellation(tokens: Int) {
        cancelled.increment()
        completionTokens.increment(by: Int64(tokens))
    }

    /// Sets the queue depth and the number of sequences being decoded.
    func occupancy(waiting: Int, active: Int) {
        queueDepth.set(to: Double(waiting))
        activeSequences.set(to: Double(active))
    }

    /// Records one decode step of `rows` sequences that took `nanoseconds`.
    func decodeStep(rows: Int, nanoseconds: UInt64) {
        decodeSteps.increment()
        decodeRows.increment(by: Int64(rows))
        let now = DispatchTime.now().uptimeNanoseconds
        lock.lock()
        recentSteps.append((now, rows, nanoseconds))
        expire(now: now)
        lock.unlock()
    }

    /// Moves `firstRecent` past the steps that ended more than the window ago, and drops them
    /// once they are half the array (amortized O(1) per step). Called with `lock` held.
    private func expire(now: UInt64) {
        while firstRecent < recentSteps.count && now &- recentSteps[firstRecent].end > Self.window * 1_000_000_000 {
            firstRecent += 1
        }
        if firstRecent > 1024 && firstRecent * 2 > recentSteps.count {
            recentSteps.removeFirst(firstRecent)
            firstRecent = 0
        }
    }

    /// The metrics in Prometheus's text format.
    func render() -> String {
        let now = DispatchTime.now().uptimeNanoseconds
        lock.lock()
        expire(now: now)
        let recent = recentSteps[firstRecent...]
        let rows = recent.reduce(0) { $0 + $1.rows }
        let time = recent.reduce(UInt64(0)) { $0 + $1.nanoseconds }
        lock.unlock()
        decodeRate.set(to: time > 0 ? Double(rows) / (Double(time) / 1e9) : 0)
        return registry.emitToString()
    }
}
