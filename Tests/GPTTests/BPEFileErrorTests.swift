import Foundation
import XCTest
@testable import GPT

/// A vocabulary and merges list that do not match, or are malformed, give one line naming the
/// file and line.
final class BPEFileErrorTests: XCTestCase {
    /// A tiny valid pair: the 256 byte symbols, "Ġt", "he", "Ġthe".
    private func smallVocabulary(extra: [String] = ["Ġt", "he", "Ġthe"]) -> [String] {
        (0..<256).map { String(decoding: BPEByteLevel.symbolText(for: [UInt8($0)]), as: UTF8.self) } + extra
    }

    private func json(_ tokens: [String]) -> String {
        BPEVocabularyJSON.serialize(keys: tokens.map { Array($0.utf8) })
    }

    private func loadError(vocab: String, merges: String) -> String {
        do {
            _ = try BPETokenizer.load(vocabJSON: vocab, merges: merges, source: "t",
                                      vocabSource: "vocab.json", mergesSource: "merges.txt")
            return "no error"
        } catch {
            XCTAssertTrue(error is BPEError)
            return "\(error)"
        }
    }

    func testValidSmallPairEncodes() throws {
        let tokenizer = try BPETokenizer.load(vocabJSON: json(smallVocabulary()),
                                              merges: "#version: 0.2\nĠ t\nh e\nĠt he\n", source: "t")
        XCTAssertEqual(tokenizer.vocabularySize, 259)
        XCTAssertEqual(try tokenizer.encode(" the"), [258])
        XCTAssertNil(tokenizer.endOfTextID)
        XCTAssertEqual(try tokenizer.encode("<|endoftext|>").count, 13)  // not special here: one id per byte
    }

    func testCRLFMergesFileLoads() throws {
        let tokenizer = try BPETokenizer.load(vocabJSON: json(smallVocabulary()),
                                              merges: "#version: 0.2\r\nĠ t\r\nh e\r\nĠt he\r\n", source: "t")
        XCTAssertEqual(try tokenizer.encode(" the"), [258])
        XCTAssertEqual(tokenizer.mergeCount, 3)
    }

    func testMergePartNotInVocabulary() {
        XCTAssertEqual(loadError(vocab: json(smallVocabulary()), merges: "#version: 0.2\nĠ t\nx yz\n"),
                       "merges.txt:3: merge \"x yz\": \"yz\" is not in the vocabulary vocab.json")
    }

    func testMergeResultNotInVocabulary() {
        XCTAssertEqual(loadError(vocab: json(smallVocabulary()), merges: "h e\nt h\n"),
                       "merges.txt:2: merge \"t h\": its result \"th\" is not in the vocabulary vocab.json")
    }

    func testMalformedMergeLine() {
        XCTAssertEqual(loadError(vocab: json(smallVocabulary()), merges: "#version: 0.2\nh e\nĠthe\n"),
                       "merges.txt:3: expected two tokens separated by one space, found \"Ġthe\"")
        XCTAssertEqual(loadError(vocab: json(smallVocabulary()), merges: "h  e\n"),
                       "merges.txt:1: expected two tokens separated by one space, found \"h  e\"")
    }

    func testMalformedVocabulary() {
        XCTAssertEqual(loadError(vocab: "", merges: ""), "vocab.json:1: empty file: expected a JSON object of token ids")
        XCTAssertEqual(loadError(vocab: "{\"a\": 0,\n \"b\": x}", merges: ""),
                       "vocab.json:2: the id of token \"b\" is not a non-negative integer")
        XCTAssertEqual(loadError(vocab: "{\"a\": 0,\n \"b\": 1.5}", merges: ""),
                       "vocab.json:2: the id of token \"b\" is not an integer")
        XCTAssertEqual(loadError(vocab: "{\"a\": 0,\n\n \"b\": 0}", merges: ""),
                       "vocab.json:3: id 0 is given to more than one token")
        XCTAssertEqual(loadError(vocab: "{\"a\": 0, \"a\": 1}", merges: ""),
                       "vocab.json:1: token \"a\" appears more than once")
        XCTAssertEqual(loadError(vocab: "{\"a\": 0, \"b\": 5}", merges: ""),
                       "vocab.json:1: token \"b\" has id 5, but ids must be 0..<2 (one per token)")
        XCTAssertEqual(loadError(vocab: "[1, 2]", merges: ""), "vocab.json:1: expected '{', found '['")
        XCTAssertEqual(loadError(vocab: "{\"a\": 0", merges: ""), "vocab.json:1: unexpected end of file inside the JSON object")
        XCTAssertEqual(loadError(vocab: "{\"a\": 0} x", merges: ""), "vocab.json:1: unexpected text after the JSON object")
    }

    func testJSONEscapesParse() throws {
        let tokenizer = try BPETokenizer.load(vocabJSON: "{\"\\u0120\\\"\": 0, \"\\ud83d\\ude00\": 1, \"a\\\\b\": 2}",
                                              merges: "", source: "t")
        XCTAssertEqual(tokenizer.symbolText(of: 0), "Ġ\"")
        XCTAssertEqual(tokenizer.symbolText(of: 1), "😀")
        XCTAssertEqual(tokenizer.symbolText(of: 2), "a\\b")

        let awkward = ["\"", "\\", "\n\r\t", "\u{08}\u{0C}\u{01}\u{1F}", "/", "日本", "😀"]
        let json = BPEVocabularyJSON.serialize(keys: awkward.map { Array($0.utf8) })
        XCTAssertTrue(json.hasPrefix(#"{"\"":0,"\\":1,"\n\r\t":2,"\b\f\u0001\u001f":3,"/":4,"#), json)
        let reloaded = try BPETokenizer.load(vocabJSON: json, merges: "", source: "t")
        XCTAssertEqual((0..<7).map { reloaded.symbolText(of: Int32($0))! }, awkward)
    }

    func testByteMissingFromVocabularyIsAnError() throws {
        let tokenizer = try BPETokenizer.load(vocabJSON: json(["a", "b"]), merges: "",
                                              source: "small")
        XCTAssertEqual(try tokenizer.encode("ab"), [0, 1])
        XCTAssertThrowsError(try tokenizer.encode("abc")) { error in
            XCTAssertEqual("\(error)", "small: the vocabulary has no token for byte 0x63, so this text cannot be encoded")
        }
    }

    func testFilesNamedInErrors() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("bpe-err-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let vocab = directory.appendingPathComponent("vocab.json")
        let merges = directory.appendingPathComponent("merges.txt")
        try json(smallVocabulary()).write(to: vocab, atomically: true, encoding: .utf8)
        try "#version: 0.2\nĠ q\n".write(to: merges, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try BPETokenizer.load(vocabularyFile: vocab, mergesFile: merges)) { error in
            XCTAssertEqual("\(error)", "\(merges.path):2: merge \"Ġ q\": its result \"Ġq\" is not in the vocabulary \(vocab.path)")
        }
        try Data([0x7B, 0xFF, 0xFE]).write(to: vocab)
        XCTAssertThrowsError(try BPETokenizer.load(vocabularyFile: vocab, mergesFile: merges)) { error in
            XCTAssertEqual("\(error)", "\(vocab.path): is not UTF-8 text")
        }
        let missing = directory.appendingPathComponent("nope.json")
        XCTAssertThrowsError(try BPETokenizer.load(vocabularyFile: missing, mergesFile: merges)) { error in
            XCTAssertEqual("\(error)", "\(missing.path): no such file")
        }
    }
}
