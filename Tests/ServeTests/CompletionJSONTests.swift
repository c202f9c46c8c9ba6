@testable import Serve
import XCTest

/// The hand-written JSON of completion objects is byte for byte what JSONEncoder writes for the
/// same `CompletionResponse`: every control character, quotes, backslashes, slashes, non-ASCII
/// text, with and without finish_reason and usage.
final class CompletionJSONTests: XCTestCase {
    func testSameBytesAsJSONEncoder() {
        var awkward = ""
        for i in 0..<0x20 { awkward.unicodeScalars.append(Unicode.Scalar(UInt8(i))) }
        awkward += "\"\\/\u{7f}é😀\u{2028}\u{FFFD} plain"
        let texts = ["", "\n", "ROMEO:", awkward]
        let cases: [(FinishReason?, Usage?)] = [(nil, nil), (.length, Usage(promptTokens: 6, completionTokens: 3)),
                                               (.stop, Usage(promptTokens: 0, completionTokens: 12))]
        for (id, model) in [("cmpl-1", "shakespeare_char/ckpt"), ("cmpl-\"2\"", "a\\b/c\né")] {
            let json = CompletionJSON(id: id, created: 1796314592, model: model)
            for text in texts {
                for (reason, usage) in cases {
                    let expected = encodeJSON(CompletionResponse(id: id, created: 1796314592, model: model,
                                                                 choices: [.init(text: text, finishReason: reason)], usage: usage))
                    let got = json.bytes(text: text, reason: reason, usage: usage)
                    XCTAssertEqual(String(decoding: got, as: UTF8.self), String(decoding: expected, as: UTF8.self),
                                   "text \(text.debugDescription), reason \(String(describing: reason))")
                }
            }
        }
    }
}
