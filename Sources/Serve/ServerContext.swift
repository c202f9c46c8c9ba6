import Foundation
import GPT

/// What every connection of the server shares: the engine, the tokenizer, the model's
/// description, the limits, the metrics, and the count of completions not yet answered.
final class ServerContext: @unchecked Sendable {
    let engine: BatchEngine
    let tokenizer: any Tokenizer
    let model: ModelList.Model
    let maxBodyBytes: Int
    let metrics: ServerMetrics
    /// Entered when a completion is accepted, left once its answer has been written (or its
    /// client is gone): SIGTERM waits for it.
    let inFlight = DispatchGroup()
    private let lock = NSLock()
    private var lastID = 0

    init(engine: BatchEngine, tokenizer: any Tokenizer, model: ModelList.Model, maxBodyBytes: Int, metrics: ServerMetrics) {
        self.engine = engine
        self.tokenizer = tokenizer
        self.model = model
        self.maxBodyBytes = maxBodyBytes
        self.metrics = metrics
    }

    /// A new completion id, `cmpl-<n>`.
    func nextID() -> String {
        lock.lock(); defer { lock.unlock() }
        lastID += 1
        return "cmpl-\(lastID)"
    }
}
