@testable import Serve
import XCTest

/// What a stream may send as tokens arrive: text that could begin a stop string, or a character
/// whose bytes are not all there, is held back; a stop string cuts the completion before it.
final class CompletionTextTests: XCTestCase {
    func testHoldsBackWhatMayBeginAStopStringAndCutsBeforeIt() {
        var text = CompletionText(stop: ["ab", "xyz"])
        XCTAssertEqual(text.update(decoded: "q", final: false), "q")
        XCTAssertEqual(text.update(decoded: "qa", final: false), "", "'a' may begin \"ab\"")
        XCTAssertEqual(text.update(decoded: "qac", final: false), "ac", "it did not")
        XCTAssertEqual(text.update(decoded: "qacx", final: false), "")
        XCTAssertEqual(text.update(decoded: "qacxy", final: false), "", "'xy' may begin \"xyz\"")
        XCTAssertEqual(text.update(decoded: "qacxya", final: false), "xy", "'a' is still held")
        XCTAssertFalse(text.stopped)
        XCTAssertEqual(text.update(decoded: "qacxyab", final: false), "", "the stop string itself is never sent")
        XCTAssertTrue(text.stopped)
        XCTAssertEqual(text.text, "qacxy")
    }

    func testTheEarliestStopStringWinsAndTheLastUpdateReleasesEverything() {
        var text = CompletionText(stop: ["cd", "b"])
        XCTAssertEqual(text.update(decoded: "abcd", final: false), "a", "\"b\" comes before \"cd\"")
        XCTAssertTrue(text.stopped)

        var open = CompletionText(stop: ["ab"])
        XCTAssertEqual(open.update(decoded: "xa", final: false), "x")
        XCTAssertEqual(open.update(decoded: "xaa", final: true), "aa", "max_tokens reached: nothing is held")
        XCTAssertFalse(open.stopped)
    }

    func testHoldsBackAnUnfinishedCharacter() {
        var text = CompletionText(stop: [])
        XCTAssertEqual(text.update(decoded: "h\u{FFFD}", final: false), "h", "a byte-level token may end inside a character")
        XCTAssertEqual(text.update(decoded: "hé", final: false), "é")
        XCTAssertEqual(text.update(decoded: "hé\u{FFFD}", final: true), "\u{FFFD}", "at the end it is sent as it is")
    }
}
