import Foundation
import XCTest

/// The queue's limit (503 with Retry-After), a client that goes away (its slot is freed at the
/// next step), and SIGTERM (completions in flight finish, then the server exits 0).
final class ServeLimitsTests: XCTestCase {
    /// Each decode step sleeps this long (GPT_DIST_TEST_STEP_DELAY_MS), so a 60-token completion
    /// takes about 3 s and the others can be sent while it runs.
    let slow = ["GPT_DIST_TEST_STEP_DELAY_MS": "50"]

    func testAFullQueueIsRefusedWithRetryAfter() throws {
        let checkpoint = try ServeFixture.checkpoint.get()
        let server = try ServerProcess(checkpoint: checkpoint, ["--max-batch", "1", "--max-queue", "1"], environment: slow)
        let long: [String: Any] = ["prompt": "The", "max_tokens": 60, "seed": 1, "stream": true]
        let running = try EventStream(server.url("/v1/completions"), long)
        XCTAssertNotNil(running.event(0), "the first completion streams")
        let queued = try EventStream(server.url("/v1/completions"), long)
        // Wait until the second one is counted as waiting.
        var depth = 0.0
        for _ in 0..<100 where depth < 1 {
            depth = prometheusValues(try HTTPClient.send(server.url("/metrics")).text)["gpt_dist_queue_depth"] ?? 0
            if depth < 1 { usleep(20_000) }
        }
        XCTAssertEqual(depth, 1)
        let refused = try HTTPClient.post(server.url("/v1/completions"), ["prompt": "The", "max_tokens": 5])
        XCTAssertEqual(refused.status, 503, refused.text)
        XCTAssertEqual(refused.headers["retry-after"], "1")
        XCTAssertTrue(refused.errorMessage.hasPrefix("the queue is full (1 completions waiting)"), refused.errorMessage)
        // Both accepted ones finish whole.
        for stream in [running, queued] {
            let events = try stream.all()
            XCTAssertEqual(stream.status, 200)
            XCTAssertEqual(events.last, "[DONE]")
            XCTAssertEqual(events.count, 60 + 2)
        }
        XCTAssertEqual(server.terminate(), 0, server.errors)
    }

    func testAClientThatDisconnectsFreesItsSlot() throws {
        let checkpoint = try ServeFixture.checkpoint.get()
        let server = try ServerProcess(checkpoint: checkpoint, ["--max-batch", "1"], environment: slow)
        let gone = try EventStream(server.url("/v1/completions"), ["prompt": "The", "max_tokens": 60, "stream": true])
        XCTAssertNotNil(gone.event(2), "three events arrive")
        gone.cancel()
        // The only slot is free again long before the 60 tokens (3 s) would have been done.
        let started = Date()
        let next = try HTTPClient.post(server.url("/v1/completions"), ["prompt": "The", "max_tokens": 5])
        XCTAssertEqual(next.status, 200, next.text)
        XCTAssertLessThan(Date().timeIntervalSince(started), 2.0, "the next completion did not wait for the cancelled one")
        let values = prometheusValues(try HTTPClient.send(server.url("/metrics")).text)
        XCTAssertEqual(values["gpt_dist_completions_cancelled_total"], 1)
        XCTAssertEqual(values["gpt_dist_active_sequences"], 0)
        XCTAssertLessThan(values["gpt_dist_completion_tokens_total"] ?? 99, 5 + 30, "the cancelled one stopped early")
        XCTAssertEqual(server.terminate(), 0, server.errors)
    }

    func testSIGTERMFinishesTheCompletionsInFlightThenExits() throws {
        let checkpoint = try ServeFixture.checkpoint.get()
        let server = try ServerProcess(checkpoint: checkpoint, ["--max-batch", "1", "--max-queue", "4"], environment: slow)
        let first = try EventStream(server.url("/v1/completions"), ["prompt": "The", "max_tokens": 40, "seed": 3, "stream": true])
        XCTAssertNotNil(first.event(0))
        // A second one waits in the queue when the signal comes: it is in flight too.
        let second = Thread.detachedResult { try HTTPClient.post(server.url("/v1/completions"), ["prompt": "The", "max_tokens": 20]) }
        usleep(300_000)
        kill(server.process.processIdentifier, SIGTERM)
        usleep(300_000)
        // No new connection is taken once draining.
        XCTAssertThrowsError(try HTTPClient.send(server.url("/health")), "the listening socket is closed")
        let events = try first.all()
        XCTAssertEqual(events.last, "[DONE]")
        XCTAssertEqual(events.count, 40 + 2, "the streamed completion finished whole")
        let answer = try second.get(timeout: 60)
        XCTAssertEqual(answer.status, 200, answer.text)
        XCTAssertEqual((answer.json["usage"] as? [String: Any])?["completion_tokens"] as? Int, 20)
        XCTAssertEqual(server.waitForExit(timeout: 30), 0, server.output + server.errors)
        XCTAssertTrue(server.output.contains("SIGTERM: finishing the completions in flight"), server.output)
        XCTAssertTrue(server.output.hasSuffix("gpt-dist serve: stopped\n"), server.output)
    }
}

extension Thread {
    /// Runs `body` on a new thread; the result is read with `get(timeout:)`.
    static func detachedResult<T>(_ body: @escaping () throws -> T) -> PendingResult<T> {
        let pending = PendingResult<T>()
        Thread { pending.set(Result { try body() }) }.start()
        return pending
    }
}

/// A value another thread is computing.
final class PendingResult<T> {
    private let done = DispatchSemaphore(value: 0)
    private var result: Result<T, Error>?

    func set(_ r: Result<T, Error>) { result = r; done.signal() }

    func get(timeout: TimeInterval) throws -> T {
        guard done.wait(timeout: .now() + timeout) == .success, let result else { throw FixtureError("no result in \(timeout) s") }
        return try result.get()
    }
}
