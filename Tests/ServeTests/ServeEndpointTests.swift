import Foundation
import XCTest

/// Every route of `gpt-dist serve` over real HTTP: the page, health, the model list, a whole
/// completion, a streamed one event by event, and the metrics they leave.
final class ServeEndpointTests: XCTestCase {
    func testRoutesCompletionsAndMetrics() throws {
        let checkpoint = try ServeFixture.checkpoint.get()
        let server = try ServerProcess(checkpoint: checkpoint)

        let health = try HTTPClient.send(server.url("/health"))
        XCTAssertEqual(health.status, 200)
        XCTAssertEqual(health.json["status"] as? String, "ok")

        let models = try HTTPClient.send(server.url("/v1/models"))
        XCTAssertEqual(models.status, 200)
        let model = try XCTUnwrap((models.json["data"] as? [[String: Any]])?.first, models.text)
        XCTAssertEqual(models.json["object"] as? String, "list")
        XCTAssertEqual(model["id"] as? String, "out/ckpt")
        XCTAssertEqual(model["object"] as? String, "model")
        XCTAssertEqual(model["n_layer"] as? Int, 2)
        XCTAssertEqual(model["n_head"] as? Int, 2)
        XCTAssertEqual(model["n_embd"] as? Int, 32)
        XCTAssertEqual(model["block_size"] as? Int, ServeFixture.blockSize)
        let vocab = Set(ServeFixture.corpus().unicodeScalars).count
        XCTAssertEqual(model["vocab_size"] as? Int, vocab)
        XCTAssertEqual(model["tokenizer"] as? String, "char")

        let page = try HTTPClient.send(server.url("/"))
        XCTAssertEqual(page.status, 200)
        XCTAssertEqual(page.headers["content-type"], "text/html; charset=utf-8")
        for piece in ["<textarea id=\"prompt\"", "id=\"temperature\"", "id=\"top_k\"", "/v1/completions", "getReader()"] {
            XCTAssertTrue(page.text.contains(piece), "the page lacks \(piece)")
        }

        // A whole completion: OpenAI's shape, usage, finish_reason length.
        let prompt = "The king"
        let whole = try HTTPClient.post(server.url("/v1/completions"),
                                        ["prompt": prompt, "max_tokens": 20, "temperature": 0.8, "top_k": 5, "seed": 42])
        XCTAssertEqual(whole.status, 200, whole.text)
        XCTAssertEqual(whole.json["object"] as? String, "text_completion")
        XCTAssertEqual(whole.json["model"] as? String, "out/ckpt")
        XCTAssertTrue((whole.json["id"] as? String ?? "").hasPrefix("cmpl-"), whole.text)
        let choice = try XCTUnwrap((whole.json["choices"] as? [[String: Any]])?.first, whole.text)
        let text = try XCTUnwrap(choice["text"] as? String)
        XCTAssertEqual(text.unicodeScalars.count, 20, "one character per token: \(text)")
        XCTAssertEqual(choice["finish_reason"] as? String, "length")
        XCTAssertEqual(choice["index"] as? Int, 0)
        let usage = try XCTUnwrap(whole.json["usage"] as? [String: Any])
        XCTAssertEqual(usage["prompt_tokens"] as? Int, 8)
        XCTAssertEqual(usage["completion_tokens"] as? Int, 20)
        XCTAssertEqual(usage["total_tokens"] as? Int, 28)

        // The same request streamed: events parsed as they come, the same text, then [DONE].
        let stream = try EventStream(server.url("/v1/completions"),
                                     ["prompt": prompt, "max_tokens": 20, "temperature": 0.8, "top_k": 5, "seed": 42, "stream": true])
        let first = try XCTUnwrap(stream.event(0), "no first event")
        let firstObject = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(first.utf8)) as? [String: Any])
        XCTAssertEqual(firstObject["object"] as? String, "text_completion")
        let events = try stream.all()
        XCTAssertEqual(stream.status, 200)
        XCTAssertEqual(stream.headers["content-type"], "text/event-stream")
        XCTAssertEqual(events.last, "[DONE]")
        var streamed = "", reasons: [String?] = [], lastUsage: [String: Any]?
        for event in events.dropLast() {
            let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(event.utf8)) as? [String: Any], event)
            let c = try XCTUnwrap((object["choices"] as? [[String: Any]])?.first, event)
            streamed += c["text"] as? String ?? ""
            reasons.append(c["finish_reason"] as? String)
            if let u = object["usage"] as? [String: Any] { lastUsage = u }
        }
        XCTAssertEqual(streamed, text, "streamed text equals the whole answer with the same seed")
        XCTAssertEqual(events.count, 20 + 2, "one event per character, the finish event and [DONE]")
        XCTAssertEqual(reasons.last ?? nil, "length")
        XCTAssertEqual(reasons.dropLast().compactMap { $0 }, [], "only the last event has a finish_reason")
        XCTAssertEqual(lastUsage?["completion_tokens"] as? Int, 20)

        // A stop string ends the completion before it, finish_reason stop.
        let cut = String(text.dropFirst(3).prefix(2))
        let stopped = try HTTPClient.post(server.url("/v1/completions"),
                                          ["prompt": prompt, "max_tokens": 20, "temperature": 0.8, "top_k": 5, "seed": 42, "stop": [cut]])
        let stopChoice = try XCTUnwrap((stopped.json["choices"] as? [[String: Any]])?.first, stopped.text)
        let expected = String(text[..<text.range(of: cut)!.lowerBound])
        XCTAssertEqual(stopChoice["text"] as? String, expected)
        XCTAssertEqual(stopChoice["finish_reason"] as? String, "stop")
        let stopUsage = try XCTUnwrap(stopped.json["usage"] as? [String: Any])
        XCTAssertEqual(stopUsage["completion_tokens"] as? Int, expected.unicodeScalars.count + cut.unicodeScalars.count)

        let metrics = try HTTPClient.send(server.url("/metrics"))
        XCTAssertEqual(metrics.status, 200)
        XCTAssertTrue(metrics.headers["content-type"]?.hasPrefix("text/plain; version=0.0.4") ?? false, "\(metrics.headers)")
        let values = prometheusValues(metrics.text)
        XCTAssertEqual(values["gpt_dist_completions_total{finish_reason=\"length\"}"], 2, metrics.text)
        XCTAssertEqual(values["gpt_dist_completions_total{finish_reason=\"stop\"}"], 1, metrics.text)
        XCTAssertEqual(values["gpt_dist_prompt_tokens_total"], 24, metrics.text)
        XCTAssertEqual(values["gpt_dist_completion_tokens_total"], Double(40 + expected.unicodeScalars.count + cut.unicodeScalars.count))
        XCTAssertEqual(values["gpt_dist_queue_depth"], 0)
        XCTAssertEqual(values["gpt_dist_active_sequences"], 0)
        XCTAssertEqual(values["gpt_dist_http_requests_total{route=\"/v1/completions\",code=\"200\"}"], 3, metrics.text)
        XCTAssertEqual(values["gpt_dist_http_requests_total{route=\"/health\",code=\"200\"}"], 1, metrics.text)
        XCTAssertGreaterThan(values["gpt_dist_decode_tokens_per_second"] ?? 0, 0, metrics.text)
        // Alone, every step decodes one row: 19 steps for each 20-token completion.
        XCTAssertEqual(values["gpt_dist_decode_rows_total"], values["gpt_dist_decode_steps_total"])

        XCTAssertEqual(server.terminate(), 0, server.output + server.errors)
    }
}

/// `name{labels} value` lines of Prometheus text, by series.
func prometheusValues(_ text: String) -> [String: Double] {
    var values: [String: Double] = [:]
    for line in text.split(separator: "\n") where !line.hasPrefix("#") {
        guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else { continue }
        values[String(line[..<space])] = value
    }
    return values
}
