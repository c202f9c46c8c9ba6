import Foundation

/// OpenAI's completion object (`text_completion`): the whole answer, or with `stream` one
/// server-sent event's worth of it.
struct CompletionResponse: Encodable {
    /// One choice (this server makes one per request).
    struct Choice: Encodable {
        var text: String
        var index = 0
        /// nil until the last event of a stream (and in every chunk before it).
        var finishReason: FinishReason?

        enum CodingKeys: String, CodingKey { case text, index, logprobs, finishReason = "finish_reason" }

        func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(text, forKey: .text)
            try c.encode(index, forKey: .index)
            try c.encodeNil(forKey: .logprobs)
            if let finishReason { try c.encode(finishReason, forKey: .finishReason) } else { try c.encodeNil(forKey: .finishReason) }
        }
    }

    var id: String
    var object = "text_completion"
    var created: Int
    var model: String
    var choices: [Choice]
    /// Token counts: in the whole answer, and in a stream's last event.
    var usage: Usage?

    enum CodingKeys: String, CodingKey { case id, object, created, model, choices, usage }

    func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id)
        try c.encode(object, forKey: .object)
        try c.encode(created, forKey: .created)
        try c.encode(model, forKey: .model)
        try c.encode(choices, forKey: .choices)
        if let usage { try c.encode(usage, forKey: .usage) }
    }
}

/// OpenAI's error body: `{"error": {"message", "type", "param", "code"}}`.
struct ErrorResponse: Encodable {
    struct Body: Encodable {
        var message: String
        var type: String
        var param: String?
        var code: Int

        enum CodingKeys: String, CodingKey { case message, type, param, code }

        func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(message, forKey: .message)
            try c.encode(type, forKey: .type)
            if let param { try c.encode(param, forKey: .param) } else { try c.encodeNil(forKey: .param) }
            try c.encode(code, forKey: .code)
        }
    }

    var error: Body

    init(_ e: RequestError) {
        error = Body(message: e.message, type: e.type, param: e.field, code: e.status)
    }
}

/// `GET /v1/models`: OpenAI's model list with the checkpoint's shape.
struct ModelList: Encodable {
    /// The served model: OpenAI's fields, then the shape.
    struct Model: Encodable {
        var id: String
        var object = "model"
        var created: Int
        var ownedBy = "gpt-dist"
        var nLayer: Int
        var nHead: Int
        var nEmbd: Int
        var blockSize: Int
        var vocabSize: Int
        var parameters: Int
        var tokenizer: String

        enum CodingKeys: String, CodingKey {
            case id, object, created, ownedBy = "owned_by", nLayer = "n_layer", nHead = "n_head", nEmbd = "n_embd"
            case blockSize = "block_size", vocabSize = "vocab_size", parameters, tokenizer
        }
    }

    var object = "list"
    var data: [Model]
}

/// JSON text of a response value (keys sorted, so every answer reads alike; slashes unescaped).
func encodeJSON<T: Encodable>(_ value: T) -> [UInt8] {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    // The values here are plain strings and numbers: encoding cannot fail.
    return Array((try? encoder.encode(value)) ?? Data("{}".utf8))
}

/// The JSON of one completion's objects (every streamed event, or the whole answer), written
/// straight into bytes: exactly what `encodeJSON(CompletionResponse(...))` writes (sorted keys,
/// slashes unescaped, JSONEncoder's string escapes; the tests compare the two), without
/// JSONEncoder's cost, which was most of the server's own work per streamed token (callgrind:
/// 52k of its 94k instructions per token on the event loop).
struct CompletionJSON {
    /// `],"created":…,"id":"…","model":"…","object":"text_completion"`: what follows the choices.
    private let tail: [UInt8]

    init(id: String, created: Int, model: String) {
        var t = Array(#"],"created":\#(created),"id":"#.utf8)
        Self.appendString(id, to: &t)
        t.append(contentsOf: #","model":"#.utf8)
        Self.appendString(model, to: &t)
        t.append(contentsOf: #","object":"text_completion""#.utf8)
        tail = t
    }

    /// Appends the object with one choice of `text` (and `reason` and `usage` when given) to `out`.
    func append(text: String, reason: FinishReason?, usage: Usage?, to out: inout [UInt8]) {
        out.append(contentsOf: #"{"choices":[{"finish_reason":"#.utf8)
        if let reason { out.append(contentsOf: #""\#(reason.rawValue)""#.utf8) } else { out.append(contentsOf: "null".utf8) }
        out.append(contentsOf: #","index":0,"logprobs":null,"text":"#.utf8)
        Self.appendString(text, to: &out)
        out.append(UInt8(ascii: "}"))
        out += tail
        if let usage {
            out.append(contentsOf: #","usage":{"completion_tokens":\#(usage.completionTokens),"prompt_tokens":\#(usage.promptTokens),"total_tokens":\#(usage.totalTokens)}"#.utf8)
        }
        out.append(UInt8(ascii: "}"))
    }

    /// The object as bytes.
    func bytes(text: String, reason: FinishReason?, usage: Usage?) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(160 + tail.count + text.utf8.count)
        append(text: text, reason: reason, usage: usage, to: &out)
        return out
    }

    /// A JSON string literal of `s`, escaped as JSONEncoder escapes it: `"` and `\`, the short
    /// forms \b \t \n \f \r, other control characters as \u00xx (lower-case hex), all else as is.
    static func appendString(_ s: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for byte in s.utf8 {
            switch byte {
            case UInt8(ascii: "\""): out.append(92); out.append(UInt8(ascii: "\""))
            case UInt8(ascii: "\\"): out.append(92); out.append(UInt8(ascii: "\\"))
            case 0x08: out.append(92); out.append(UInt8(ascii: "b"))
            case 0x09: out.append(92); out.append(UInt8(ascii: "t"))
            case 0x0A: out.append(92); out.append(UInt8(ascii: "n"))
            case 0x0C: out.append(92); out.append(UInt8(ascii: "f"))
            case 0x0D: out.append(92); out.append(UInt8(ascii: "r"))
            case 0..<0x20:
                let digit = { (n: UInt8) in n < 10 ? UInt8(ascii: "0") + n : UInt8(ascii: "a") + n - 10 }
                out.append(contentsOf: #"\u00"#.utf8); out.append(digit(byte >> 4)); out.append(digit(byte & 15))
            default: out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}
