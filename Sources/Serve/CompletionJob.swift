import Foundation
import GPT

/// What the engine tells a request's connection, in order: pieces of text, then exactly one end.
enum CompletionEvent {
    /// More completion text (never empty).
    case text(String)
    /// Generation is over: why, and the token counts.
    case finished(reason: FinishReason, usage: Usage)
    /// The request was cancelled (its client went away) or the engine failed on it.
    case aborted(String?)
}

/// OpenAI's finish_reason.
enum FinishReason: String, Encodable {
    /// max_tokens reached.
    case length
    /// A stop string was found.
    case stop
}

/// OpenAI's usage block.
struct Usage: Encodable, Equatable {
    var promptTokens: Int
    var completionTokens: Int
    var totalTokens: Int { promptTokens + completionTokens }

    enum CodingKeys: String, CodingKey { case promptTokens = "prompt_tokens", completionTokens = "completion_tokens", totalTokens = "total_tokens" }

    func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(promptTokens, forKey: .promptTokens)
        try c.encode(completionTokens, forKey: .completionTokens)
        try c.encode(totalTokens, forKey: .totalTokens)
    }
}

/// One completion inside the engine: its request, its sampler and text, and where its events go.
/// Touched by the engine's thread only, except `cancel()` and `isCancelled`.
final class CompletionJob {
    let request: CompletionRequest
    /// Receives every event, on the engine's thread.
    private let sink: (CompletionEvent) -> Void
    private var sampler: SequenceSampler
    private var text: CompletionText
    private let tokenizer: any Tokenizer
    /// The completion's tokens so far.
    private(set) var tokens: [Int32] = []
    /// The logits the next token is drawn from.
    var pendingLogits: [Float] = []
    /// When the request was accepted (for time-to-first-token).
    let accepted = DispatchTime.now()

    private let cancelLock = NSLock()
    private var cancelled = false

    init(request: CompletionRequest, tokenizer: any Tokenizer, sink: @escaping (CompletionEvent) -> Void) {
        self.request = request
        self.tokenizer = tokenizer
        self.sink = sink
        sampler = SequenceSampler(options: request.options, rng: RandomGenerator(seed: request.seed))
        text = CompletionText(stop: request.stop)
    }

    /// Marks the job for removal at the engine's next step (its client is gone).
    func cancel() {
        cancelLock.lock(); cancelled = true; cancelLock.unlock()
    }

    var isCancelled: Bool {
        cancelLock.lock(); defer { cancelLock.unlock() }
        return cancelled
    }

    /// Draws the next token from `pendingLogits`, sends the text it releases, and returns it, or
    /// nil when the completion is over (its end event then waits for `sendEnd()`, so the engine
    /// can free the slot first: a client that has its answer sees the slot free).
    func advance() -> Int32? {
        let token = sampler.next(pendingLogits)
        tokens.append(token)
        let final = tokens.count >= request.maxTokens
        let piece = text.update(decoded: tokenizer.decode(tokens), final: final)
        if !piece.isEmpty { sink(.text(piece)) }
        if text.stopped {
            finish(.stop)
            return nil
        }
        if final {
            finish(.length)
            return nil
        }
        return token
    }

    private var end: CompletionEvent?

    private func finish(_ reason: FinishReason) {
        end = .finished(reason: reason, usage: Usage(promptTokens: request.promptTokens.count, completionTokens: tokens.count))
    }

    /// Sends the end event that `advance()` held back.
    func sendEnd() {
        if let end { sink(end) }
        end = nil
    }

    /// Ends the job without a result (cancelled, or the engine failed with `problem`).
    func abort(_ problem: String?) { sink(.aborted(problem)) }
}
