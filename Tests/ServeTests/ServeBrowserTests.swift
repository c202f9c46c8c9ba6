import Foundation
import XCTest

/// The page at `/` in a real browser: Debian's chromium, headless, loads it from a running
/// `gpt-dist serve`, the prompt is typed into its prompt box and its Generate button clicked
/// (DevTools input events, as a user's), and the completion is watched growing in the page
/// until it is done. Without chromium the test fails (it is never skipped): .ci/run installs it.
final class ServeBrowserTests: XCTestCase {
    func testPageStreamsACompletionInChromium() throws {
        guard let executable = HeadlessChromium.executable else {
            XCTFail("chromium is not installed (no chromium or chromium-browser on PATH): the browser check of the "
                    + "page at / needs it; install it with `apt-get install --no-install-recommends chromium` "
                    + "(.ci/run does)")
            return
        }
        signal(SIGPIPE, SIG_IGN)   // a browser that dies makes a write fail, not kill the tests
        let checkpoint = try ServeFixture.checkpoint.get()
        // 30 ms before every decode step: 40 tokens take over a second, so the test sees them come.
        let server = try ServerProcess(checkpoint: checkpoint, environment: ["GPT_DIST_TEST_STEP_DELAY_MS": "30"])
        defer { server.terminate() }

        let prompt = "good night, sweet prince"
        let maxTokens = 40, seed = 7
        let expected = try HTTPClient.post(server.url("/v1/completions"),
                                           ["prompt": prompt, "max_tokens": maxTokens, "temperature": 0.8,
                                            "top_k": 200, "seed": seed])
        XCTAssertEqual(expected.status, 200, expected.text)
        let expectedText = try XCTUnwrap(((expected.json["choices"] as? [[String: Any]])?.first)?["text"] as? String,
                                          expected.text)

        let browser = try HeadlessChromium(executable: executable)
        defer { browser.close() }
        let target = try browser.send("Target.createTarget", ["url": "about:blank"])
        let targetID = try XCTUnwrap(target["targetId"] as? String, "\(target)")
        let attached = try browser.send("Target.attachToTarget", ["targetId": targetID, "flatten": true])
        let session = try XCTUnwrap(attached["sessionId"] as? String, "\(attached)")
        try browser.send("Runtime.enable", session: session)
        try browser.send("Page.enable", session: session)
        try browser.send("Page.navigate", ["url": server.url("/").absoluteString], session: session)

        // Loaded, and its script ran: the title line shows the model's id and shape from /v1/models.
        let heading = try waitFor("the page's model line", timeout: 15) {
            let line = try browser.evaluate("document.readyState === 'complete' ? document.getElementById('model').textContent : ''",
                                            session: session) as? String ?? ""
            return line.contains("out/ckpt") ? line : nil
        }
        XCTAssertEqual(heading, "out/ckpt (2×2×32, context \(ServeFixture.blockSize))")

        // The settings and the prompt, typed as a user would: click the field, clear it, insert text.
        func click(_ id: String) throws {
            let rect = try XCTUnwrap(try browser.evaluate(
                "(() => { const e = document.getElementById('\(id)'); e.scrollIntoView({block: 'center'}); return JSON.stringify(e.getBoundingClientRect()); })()", session: session) as? String)
            let box = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(rect.utf8)) as? [String: Double], rect)
            let x = box["x"]! + box["width"]! / 2, y = box["y"]! + box["height"]! / 2
            XCTAssertGreaterThan(box["width"]!, 0, "#\(id) is not visible")
            for type in ["mouseMoved", "mousePressed", "mouseReleased"] {
                try browser.send("Input.dispatchMouseEvent",
                                 ["type": type, "x": x, "y": y, "button": type == "mouseMoved" ? "none" : "left", "clickCount": 1],
                                 session: session)
            }
        }
        func type(_ text: String, into id: String) throws {
            try click(id)
            _ = try browser.evaluate("(() => { const e = document.getElementById('\(id)'); e.value = ''; e.focus(); return true; })()",
                                     session: session)
            try browser.send("Input.insertText", ["text": text], session: session)
            let value = try browser.evaluate("document.getElementById('\(id)').value", session: session) as? String
            XCTAssertEqual(value, text, "typing into #\(id)")
        }
        try type(String(maxTokens), into: "max_tokens")
        try type(String(seed), into: "seed")
        try type(prompt, into: "prompt")
        try click("go")

        // Watch the output grow: every observation is the completion so far (a prefix of the
        // final text), until the status line says it is done.
        var observed: [String] = []
        var status = ""
        let deadline = Date().addingTimeInterval(15)
        while Date() < deadline {
            let state = try XCTUnwrap(try browser.evaluate(
                "JSON.stringify([document.getElementById('completion').textContent, document.getElementById('status').textContent])",
                session: session) as? String)
            let pair = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(state.utf8)) as? [String], state)
            if observed.last != pair[0] { observed.append(pair[0]) }
            status = pair[1]
            if status.hasPrefix("done") || status.hasPrefix("error") { break }
            usleep(10_000)
        }
        let exceptions = browser.events.filter { $0.method == "Runtime.exceptionThrown" }.map { "\($0.params)" }
        XCTAssertEqual(exceptions, [], "the page threw")
        XCTAssertTrue(status.hasPrefix("done (length): \(maxTokens) tokens in "), "status: \(status); seen: \(observed)")
        let final = observed.last ?? ""
        XCTAssertEqual(final, expectedText, "the page's text is the seeded completion's")
        let partial = observed.filter { !$0.isEmpty && $0 != final }
        XCTAssertGreaterThanOrEqual(partial.count, 2, "the text did not stream in (observations: \(observed))")
        for (earlier, later) in zip(observed, observed.dropFirst()) {
            XCTAssertTrue(later.hasPrefix(earlier) && later.count > earlier.count,
                          "the text only grows: \(earlier.debugDescription) then \(later.debugDescription)")
        }
        print("browser check: \(observed.count) observations: \(observed.map(\.count)); status \(status)")
        let echo = try browser.evaluate("document.getElementById('prompt-echo').textContent", session: session) as? String
        XCTAssertEqual(echo, prompt)
    }

    /// Polls `probe` every 50 ms until it returns a value, or fails after `timeout` seconds.
    private func waitFor<T>(_ what: String, timeout: TimeInterval, _ probe: () throws -> T?) throws -> T {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if let value = try probe() { return value }
            usleep(50_000)
        }
        throw HeadlessChromium.ProtocolError("\(what): not there after \(Int(timeout)) s")
    }
}
