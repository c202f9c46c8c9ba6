import Foundation
import XCTest

/// Bad requests get one clear error naming the field, with the right status, and the server
/// goes on serving.
final class ServeBadInputTests: XCTestCase {
    func testEachBadInputIsRefusedByNameAndTheServerLivesOn() throws {
        let checkpoint = try ServeFixture.checkpoint.get()
        let server = try ServerProcess(checkpoint: checkpoint, ["--max-body-bytes", "4096"])
        let completions = server.url("/v1/completions")
        func post(_ body: String) throws -> HTTPAnswer {
            try HTTPClient.send(completions, method: "POST", body: Data(body.utf8))
        }
        // (body, status, param, words the message must hold)
        let cases: [(String, Int, String?, String)] = [
            (#"{"prompt": "The", "max_tokens": 5"#, 400, nil, "body: not valid JSON"),
            (#"["The"]"#, 400, nil, "body: must be a JSON object"),
            (#"{"max_tokens": 5}"#, 400, "prompt", "prompt: is required"),
            (#"{"prompt": 5}"#, 400, "prompt", "prompt: must be a string, got a number"),
            (#"{"prompt": ""}"#, 400, "prompt", "prompt: is empty"),
            (#"{"prompt": "The", "max_tokens": "5"}"#, 400, "max_tokens", "max_tokens: must be an integer, got a string"),
            (#"{"prompt": "The", "max_tokens": 2.5}"#, 400, "max_tokens", "max_tokens: must be an integer, got a number"),
            (#"{"prompt": "The", "max_tokens": 0}"#, 400, "max_tokens", "max_tokens: must be at least 1"),
            (#"{"prompt": "The", "max_tokens": 62}"#, 400, "max_tokens",
             "max_tokens: 62 plus the prompt's 3 tokens exceed the model's context of 64 (at most 61)"),
            (#"{"prompt": "The", "temperature": "hot"}"#, 400, "temperature", "temperature: must be a number, got a string"),
            (#"{"prompt": "The", "temperature": -1}"#, 400, "temperature", "temperature: must be a number >= 0"),
            (#"{"prompt": "The", "top_k": -2}"#, 400, "top_k", "top_k: must be >= 0"),
            (#"{"prompt": "The", "top_p": 0}"#, 400, "top_p", "top_p: must be in (0, 1]"),
            (#"{"prompt": "The", "seed": -1}"#, 400, "seed", "seed: must be >= 0"),
            (#"{"prompt": "The", "stop": [1]}"#, 400, "stop", "stop: item 0 must be a string, got a number"),
            (#"{"prompt": "The", "stop": ["a", "b", "c", "d", "e"]}"#, 400, "stop", "stop: at most 4 strings, got 5"),
            (#"{"prompt": "The", "stream": "yes"}"#, 400, "stream", "stream: must be true or false, got a string"),
            (#"{"prompt": "The", "stream": 1}"#, 400, "stream", "stream: must be true or false, got a number"),
            (#"{"prompt": "The", "n": 2}"#, 400, "n", "n: unknown field"),
            (#"{"prompt": "The", "model": "gpt-4"}"#, 400, "model", #"model: this server serves "out/ckpt", not "gpt-4""#),
            (#"{"prompt": "Zebra#"}"#, 400, "prompt",
             "prompt: cannot be encoded by the model's tokenizer: character 'Z' (U+005A) at position 0 is not in the tokenizer's vocabulary"),
            ("{\"prompt\": \"" + String(repeating: "a", count: 5000) + "\"}", 413, nil, "body: larger than the limit of 4096 bytes"),
        ]
        for (body, status, param, message) in cases {
            let answer = try post(body)
            XCTAssertEqual(answer.status, status, "\(body.prefix(80)): \(answer.text)")
            XCTAssertEqual(answer.errorParam, param, "\(body.prefix(80)): \(answer.text)")
            XCTAssertTrue(answer.errorMessage.hasPrefix(message), "\(body.prefix(80)): \(answer.errorMessage)")
            XCTAssertEqual(answer.headers["content-type"], "application/json")
        }
        let missing = try HTTPClient.send(server.url("/v2/nothing"))
        XCTAssertEqual(missing.status, 404, missing.text)
        let wrongMethod = try HTTPClient.send(server.url("/v1/completions"))
        XCTAssertEqual(wrongMethod.status, 405, wrongMethod.text)
        XCTAssertEqual(wrongMethod.headers["allow"], "POST")
        XCTAssertEqual(wrongMethod.errorMessage, "/v1/completions takes POST, not GET")

        // Still serving, and every refusal was counted.
        let fine = try HTTPClient.post(completions, ["prompt": "The", "max_tokens": 61])
        XCTAssertEqual(fine.status, 200, fine.text)
        let values = prometheusValues(try HTTPClient.send(server.url("/metrics")).text)
        XCTAssertEqual(values["gpt_dist_http_requests_total{route=\"/v1/completions\",code=\"400\"}"], Double(cases.count - 1))
        XCTAssertEqual(values["gpt_dist_http_requests_total{route=\"other\",code=\"413\"}"], 1)
        XCTAssertEqual(server.terminate(), 0, server.errors)
    }
}
