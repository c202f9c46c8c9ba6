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
