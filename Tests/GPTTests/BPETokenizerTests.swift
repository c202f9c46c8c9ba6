import Foundation
import XCTest
@testable import GPT

final class BPETokenizerTests: XCTestCase {
    /// Texts with emoji, CJK, combining marks, runs of spaces and newlines, and odd scalars.
    static let unicodeTexts = [
        "", " ", "\n", "  \n\n  \t\t\n", "x  ", "  x", "a \u{00A0} b",
        "Emoji 😀👍🏽👨‍👩‍👧‍👦🇯🇵❤️ and 🦀🦀", "日本語のテキスト、中文，한국어",
        "e\u{0301}\u{0301} cafe\u{0301} A\u{030A}", "Zalgo: Z\u{0351}\u{036B}\u{0343}a\u{0352}l",
        "\u{0000}\u{0001}\u{001F}\u{007F}\u{0085}\u{2028}\u{FEFF}", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 and \u{10FFFF}",
        "it's 'tis we'll they're I'M", String(repeating: "ab ", count: 500),
    ]

    func testRoundTripOnUnicode() throws {
        for name in ["v400", "full"] {
            let tokenizer = try BPEReference.tokenizer(name)
            for text in Self.unicodeTexts {
                let ids = try tokenizer.encode(text)
                XCTAssertTrue(ids.allSatisfy { $0 >= 0 && Int($0) < tokenizer.vocabularySize })
                XCTAssertEqual(tokenizer.decode(ids), text, "\(name): \(text.debugDescription)")
            }
        }
    }

    func testRoundTripOnRandomScalars() throws {
        let tokenizer = try BPEReference.tokenizer("full")
        var generator = SplitMix(seed: 7)
        let ranges: [ClosedRange<UInt32>] = [0x20...0x7E, 0x09...0x0D, 0xA0...0x17F, 0x300...0x36F,
                                             0x4E00...0x4E80, 0x1F300...0x1F64F, 0x2000...0x206F]
        for _ in 0..<200 {
            var text = ""
            for _ in 0..<Int(generator.next() % 40) {
                let range = ranges[Int(generator.next() % UInt64(ranges.count))]
                let value = range.lowerBound + UInt32(generator.next() % UInt64(range.count))
                text.unicodeScalars.append(Unicode.Scalar(value)!)
            }
            XCTAssertEqual(tokenizer.decode(try tokenizer.encode(text)), text)
        }
    }

    /// The heap-based merge gives what GPT-2's `bpe()` (repeatedly merge every occurrence of the
    /// lowest-ranked pair) gives.
    func testMergeOrderMatchesGPT2Loop() throws {
        let tokenizer = try BPEReference.tokenizer("full")
        var generator = SplitMix(seed: 11)
        let alphabet = Array("the and a e t h n d  ".utf8)
        for _ in 0..<300 {
            let length = 2 + Int(generator.next() % 30)
            let word = (0..<length).map { _ in alphabet[Int(generator.next() % UInt64(alphabet.count))] }
                .filter { $0 != 0x20 }
            guard word.count > 1 else { continue }
            let text = String(decoding: word, as: UTF8.self)
            XCTAssertEqual(try tokenizer.encode(text), gpt2Loop(tokenizer, word), text)
        }
    }

    private func gpt2Loop(_ tokenizer: BPETokenizer, _ word: [UInt8]) -> [Int32] {
        var symbols = word.map { tokenizer.byteIDs[Int($0)] }
        func rank(_ a: Int32, _ b: Int32) -> UInt64? {
            tokenizer.mergeTable[UInt64(UInt32(a)) << 32 | UInt64(UInt32(b))]
        }
        while symbols.count > 1 {
            var best: (rank: UInt64, left: Int32, right: Int32)?
            for k in 0..<(symbols.count - 1) {
                if let m = rank(symbols[k], symbols[k + 1]), best == nil || m >> 32 < best!.rank {
                    best = (m >> 32, symbols[k], symbols[k + 1])
                }
            }
            guard let best else { break }
            let merged = Int32(truncatingIfNeeded: rank(best.left, best.right)! & 0xFFFF_FFFF)
            var next: [Int32] = []
            var k = 0
            while k < symbols.count {
                if k + 1 < symbols.count, symbols[k] == best.left, symbols[k + 1] == best.right {
                    next.append(merged)
                    k += 2
                } else {
                    next.append(symbols[k])
                    k += 1
                }
            }
            symbols = next
        }
        return symbols
    }

    func testLongPieceEncodes() throws {
        let tokenizer = try BPEReference.tokenizer("full")
        let text = String(repeating: "a", count: 100_000) + String(repeating: "=", count: 50_000)
        let ids = try tokenizer.encode(text)
        XCTAssertLessThan(ids.count, text.utf8.count)
        XCTAssertEqual(tokenizer.decode(ids), text)
    }

    func testDecodeOfUnknownIDs() throws {
        let tokenizer = try BPEReference.tokenizer("v400")
        XCTAssertEqual(tokenizer.decode([400, -1]), "\u{FFFD}\u{FFFD}")
        XCTAssertThrowsError(try tokenizer.decodeChecked([5, 400])) { error in
            XCTAssertTrue("\(error)".contains("token id 400 at position 1 is outside the vocabulary (0..<400)"), "\(error)")
        }
        // Half of a multi-byte character decodes to U+FFFD.
        let euro = try tokenizer.encode("€")
        XCTAssertEqual(euro.count, 3)
        XCTAssertEqual(tokenizer.decode(Array(euro.prefix(2))), "\u{FFFD}")
    }

    func testSerialisedFormReloads() throws {
        let tokenizer = try BPEReference.tokenizer("v400")
        let again = try BPETokenizer.load(vocabJSON: tokenizer.vocabularyJSON, merges: tokenizer.mergesText,
                                          source: "stored tokenizer")
        XCTAssertEqual(again.symbolTexts, tokenizer.symbolTexts)
        XCTAssertEqual(again.mergesText, tokenizer.mergesText)
        let text = try BPEReference.sample
        XCTAssertEqual(try again.encode(text), try tokenizer.encode(text))
        XCTAssertEqual(tokenizer.symbolText(of: 0), "<|endoftext|>")
        XCTAssertEqual(tokenizer.id(ofSymbolText: "Ġt"), tokenizer.id(ofSymbolText: "Ġt"))
        XCTAssertNotNil(tokenizer.id(ofSymbolText: "Ġt"))
    }

    func testGPT2FileNamesLoad() throws {
        let directory = try makeDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let source = BPEReference.folder.appendingPathComponent("v400")
        try FileManager.default.copyItem(at: source.appendingPathComponent("vocab.json"),
                                         to: directory.appendingPathComponent("encoder.json"))
        try FileManager.default.copyItem(at: source.appendingPathComponent("merges.txt"),
                                         to: directory.appendingPathComponent("vocab.bpe"))
        let gpt2Style = try BPETokenizer.load(directory: directory)
        let text = try BPEReference.sample
        XCTAssertEqual(try gpt2Style.encode(text), try BPEReference.tokenizer("v400").encode(text))
    }

    private func makeDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("bpe-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }
}
