import GPT
@testable import Serve
import XCTest

/// A request's fields become the very settings `gpt-dist sample` would use.
final class CompletionRequestTests: XCTestCase {
    func testRequestFieldsBecomeSampleSettings() throws {
        let tokenizer = try CharTokenizer(corpus: "abc ")
        let body = Array(#"{"prompt": "ab c", "max_tokens": 3, "temperature": 0.8, "top_k": 99, "top_p": 0.9, "seed": 5, "stop": "c"}"#.utf8)
        let request = try CompletionRequest.parse(body, tokenizer: tokenizer, blockSize: 8, vocabSize: 4, model: "m")
        XCTAssertEqual(request.promptTokens, [1, 2, 0, 3])
        XCTAssertEqual(request.maxTokens, 3)
        XCTAssertEqual(request.options, SamplingOptions(temperature: 0.8, topK: 4, topP: 0.9), "top_k capped at the vocabulary, as sample does")
        XCTAssertEqual(request.seed, 5)
        XCTAssertEqual(request.stop, ["c"])
        XCTAssertFalse(request.stream)
        // Without max_tokens: OpenAI's 16, or what the context leaves.
        let short = try CompletionRequest.parse(Array(#"{"prompt": "ab c"}"#.utf8), tokenizer: tokenizer, blockSize: 8,
                                                vocabSize: 4, model: "m")
        XCTAssertEqual(short.maxTokens, 4)
        XCTAssertEqual(short.options, SamplingOptions(temperature: 1))
    }
}
