import GPT

/// A checked `POST /v1/completions` body: OpenAI's completion fields that this server computes,
/// with the prompt already encoded.
struct CompletionRequest {
    /// The prompt as sent.
    var prompt: String
    /// The prompt's tokens.
    var promptTokens: [Int32]
    /// Tokens to generate at most.
    var maxTokens: Int
    /// Temperature, top_k and top_p.
    var options: SamplingOptions
    /// The random stream's seed (drawn at random when the request gives none).
    var seed: UInt64
    /// Generation ends before the first of these strings appears in the completion.
    var stop: [String]
    /// Whether to answer with server-sent events, one per piece of text.
    var stream: Bool

    /// The fields a request may carry; any other is refused by name.
    static let fields: Set<String> = ["prompt", "max_tokens", "temperature", "top_k", "top_p", "seed", "stop",
                                      "stream", "model"]
    /// OpenAI's default for max_tokens.
    static let defaultMaxTokens = 16
    /// OpenAI's limit on stop strings.
    static let maxStopStrings = 4

    /// Checks `body` field by field; throws a `RequestError` naming the first field at fault.
    /// `model` is this server's model id (a request may name it or leave it out).
    static func parse(_ body: [UInt8], tokenizer: any Tokenizer, blockSize: Int, vocabSize: Int,
                      model: String) throws -> CompletionRequest {
        guard case .object(let object) = try JSONValue.parse(body) else {
            throw RequestError.body("must be a JSON object")
        }
        if let unknown = object.keys.sorted().first(where: { !fields.contains($0) }) {
            throw RequestError.invalid(unknown, "unknown field (this server reads \(fields.sorted().joined(separator: ", ")))")
        }
        func value(_ name: String) -> JSONValue? {
            guard let v = object[name], v != .null else { return nil }
            return v
        }
        func integer(_ name: String) throws -> Int? {
            guard let v = value(name) else { return nil }
            guard case .integer(let n) = v else { throw RequestError.invalid(name, "must be an integer, got \(v.kind)") }
            return n
        }
        func number(_ name: String) throws -> Double? {
            switch value(name) {
            case nil: return nil
            case .integer(let n)?: return Double(n)
            case .number(let x)?: return x
            case let v?: throw RequestError.invalid(name, "must be a number, got \(v.kind)")
            }
        }

        if let v = value("model") {
            guard case .string(let name) = v else { throw RequestError.invalid("model", "must be a string, got \(v.kind)") }
            guard name == model else { throw RequestError.invalid("model", "this server serves \"\(model)\", not \"\(name)\"") }
        }
        guard let promptValue = value("prompt") else { throw RequestError.invalid("prompt", "is required") }
        guard case .string(let prompt) = promptValue else {
            throw RequestError.invalid("prompt", "must be a string, got \(promptValue.kind)")
        }
        guard !prompt.isEmpty else { throw RequestError.invalid("prompt", "is empty (give at least one character)") }
        let promptTokens: [Int32]
        do {
            promptTokens = try tokenizer.encode(prompt)
        } catch {
            throw RequestError.invalid("prompt", "cannot be encoded by the model's tokenizer: \(error)")
        }
        let room = blockSize - promptTokens.count
        guard room >= 1 else {
            throw RequestError.invalid("prompt", "is \(promptTokens.count) tokens, which leaves no room in the model's context of \(blockSize)")
        }
        let maxTokens = try integer("max_tokens") ?? min(defaultMaxTokens, room)
        guard maxTokens >= 1 else { throw RequestError.invalid("max_tokens", "must be at least 1, got \(maxTokens)") }
        guard maxTokens <= room else {
            throw RequestError.invalid("max_tokens", "\(maxTokens) plus the prompt's \(promptTokens.count) tokens exceed the model's context of \(blockSize) (at most \(room))")
        }
        let temperature = try number("temperature") ?? 1
        guard temperature >= 0, temperature.isFinite, temperature <= 1e6 else {
            throw RequestError.invalid("temperature", "must be a number >= 0, got \(temperature)")
        }
        let topK = try integer("top_k") ?? 0
        guard topK >= 0 else { throw RequestError.invalid("top_k", "must be >= 0 (0 = off), got \(topK)") }
        let topP = try number("top_p") ?? 1
        guard topP > 0, topP <= 1 else { throw RequestError.invalid("top_p", "must be in (0, 1], got \(topP)") }
        let seed: UInt64
        if let s = try integer("seed") {
            guard s >= 0 else { throw RequestError.invalid("seed", "must be >= 0, got \(s)") }
            seed = UInt64(s)
        } else {
            seed = UInt64.random(in: 0...UInt64(Int64.max))
        }
        var stop: [String] = []
        switch value("stop") {
        case nil: break
        case .string(let s)?: stop = [s]
        case .array(let items)?:
            for (i, item) in items.enumerated() {
                guard case .string(let s) = item else {
                    throw RequestError.invalid("stop", "item \(i) must be a string, got \(item.kind)")
                }
                stop.append(s)
            }
        case let v?: throw RequestError.invalid("stop", "must be a string or an array of strings, got \(v.kind)")
        }
        guard stop.count <= maxStopStrings else {
            throw RequestError.invalid("stop", "at most \(maxStopStrings) strings, got \(stop.count)")
        }
        if stop.contains("") { throw RequestError.invalid("stop", "a stop string is empty") }
        var stream = false
        if let v = value("stream") {
            guard case .bool(let b) = v else { throw RequestError.invalid("stream", "must be true or false, got \(v.kind)") }
            stream = b
        }
        // The same settings as `gpt-dist sample --temperature --top-k --top-p`.
        let options = SamplingOptions(temperature: Float(temperature), topK: topK > 0 ? min(topK, vocabSize) : nil,
                                      topP: topP < 1 ? Float(topP) : nil)
        return CompletionRequest(prompt: prompt, promptTokens: promptTokens, maxTokens: maxTokens, options: options,
                                 seed: seed, stop: stop, stream: stream)
    }
}
