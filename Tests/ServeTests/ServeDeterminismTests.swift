import Foundation
import TestSupport
import XCTest

/// A seeded completion's text is the same alone, beside other completions in the same decode
/// steps, and as `gpt-dist sample` with that seed.
final class ServeDeterminismTests: XCTestCase {
    func testSeededTextIsTheSameAloneBatchedAndAsSample() throws {
        let checkpoint = try ServeFixture.checkpoint.get()
        func request(_ seed: Int) -> [String: Any] {
            ["prompt": "The queen", "max_tokens": 40, "temperature": 0.9, "top_k": 20, "top_p": 0.95, "seed": seed]
        }
        func text(_ answer: HTTPAnswer) throws -> String {
            XCTAssertEqual(answer.status, 200, answer.text)
            return try XCTUnwrap((answer.json["choices"] as? [[String: Any]])?.first?["text"] as? String, answer.text)
        }
        let seeds = [7, 8, 9, 10]

        // Alone: one at a time.
        let server = try ServerProcess(checkpoint: checkpoint)
        let alone = try seeds.map { try text(try HTTPClient.post(server.url("/v1/completions"), request($0))) }
        XCTAssertEqual(server.terminate(), 0)
        XCTAssertEqual(Set(alone).count, seeds.count, "different seeds, different texts: \(alone)")

        // Together: a step delay keeps all four in flight, so they share decode steps.
        let batched = try ServerProcess(checkpoint: checkpoint, ["--max-batch", "4"],
                                        environment: ["GPT_DIST_TEST_STEP_DELAY_MS": "20"])
        let together = try HTTPClient.postConcurrently(batched.url("/v1/completions"), seeds.map(request)).map(text)
        let values = prometheusValues(try HTTPClient.send(batched.url("/metrics")).text)
        XCTAssertEqual(batched.terminate(), 0)
        let steps = try XCTUnwrap(values["gpt_dist_decode_steps_total"]), rows = try XCTUnwrap(values["gpt_dist_decode_rows_total"])
        XCTAssertEqual(rows, Double(seeds.count * 39), "every completion's 39 decode rows")
        XCTAssertLessThan(steps, rows / 2, "the completions shared decode steps (\(steps) steps for \(rows) rows)")
        XCTAssertEqual(together, alone, "batched completions equal the ones decoded alone")

        // gpt-dist sample with the same seed and settings prints prompt + the same text.
        for (seed, expected) in zip(seeds, alone).prefix(2) {
            let sample = try runProduct("gpt-dist", ["sample", "--checkpoint", checkpoint, "--prompt", "The queen",
                                                     "--num-samples", "1", "--max-new-tokens", "40", "--temperature", "0.9",
                                                     "--top-k", "20", "--top-p", "0.95", "--seed", String(seed), "--threads", "1"])
            XCTAssertEqual(sample.status, 0, sample.output)
            XCTAssertEqual(sample.stdout, "The queen" + expected + "\n---------------\n", "seed \(seed)")
        }
    }
}
