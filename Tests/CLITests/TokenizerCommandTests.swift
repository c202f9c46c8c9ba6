import Foundation
import TestSupport
import XCTest

/// `gpt-dist tokenizer train|encode|decode`, run as a user would run them.
final class TokenizerCommandTests: XCTestCase {
    /// The Hugging Face reference fixtures, read from the source tree.
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("GPTTests/Fixtures/bpe")

    var directory: URL!

    override func setUpWithError() throws {
        directory = try makeTemporaryDirectory("tokenizer-cli")
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: directory)
    }

    private func gptDist(_ arguments: String...) throws -> ProcessResult {
        try runProduct("gpt-dist", ["tokenizer"] + arguments)
    }

    private func assertFailsWithOneLine(_ result: ProcessResult, containing text: String,
                                        file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertNotEqual(result.status, 0, result.output, file: file, line: line)
        XCTAssertTrue(result.stderr.contains(text), result.output, file: file, line: line)
        XCTAssertEqual(result.stderr.split(separator: "\n").count, 1, result.output, file: file, line: line)
        XCTAssertFalse(result.stderr.contains("Fatal error"), result.output, file: file, line: line)
    }

    func testTrainWritesHuggingFaceFiles() throws {
        let out = directory.appendingPathComponent("bpe")
        let sample = Self.fixtures.appendingPathComponent("sample.txt").path
        let result = try gptDist("train", "--vocab-size", "400", sample, "--out", out.path)
        XCTAssertEqual(result.status, 0, result.output)
        XCTAssertTrue(result.stdout.contains("400 tokens, 143 merges"), result.output)
        // Byte for byte what Hugging Face `tokenizers` wrote for the same text and settings.
        for name in ["vocab.json", "merges.txt"] {
            XCTAssertEqual(try Data(contentsOf: out.appendingPathComponent(name)),
                           try Data(contentsOf: Self.fixtures.appendingPathComponent("v400/\(name)")), name)
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: out.path).sorted(),
                       ["merges.txt", "vocab.json"])

        // An existing output is refused unless --force.
        let again = try gptDist("train", "--vocab-size", "300", sample, "--out", out.path)
        assertFailsWithOneLine(again, containing: "vocab.json: already exists (use --force to replace it)")
        let forced = try gptDist("train", "--vocab-size", "300", "--force", "-q", sample, "--out", out.path)
        XCTAssertEqual(forced.status, 0, forced.output)
        XCTAssertEqual(forced.stdout, "")
        let merges = try String(contentsOf: out.appendingPathComponent("merges.txt"), encoding: .utf8)
        XCTAssertEqual(merges.split(separator: "\n").count, 1 + 300 - 257)
    }

    func testTrainedFilesEncodeAndDecodeRoundTrip() throws {
        let corpus = directory.appendingPathComponent("corpus.txt")
        let text = String(repeating: "To be, or not to be, that is the question: 🎭 生存还是毁灭\n", count: 40)
        try text.write(to: corpus, atomically: true, encoding: .utf8)
        let out = directory.appendingPathComponent("tok").path
        XCTAssertEqual(try gptDist("train", "--vocab-size", "300", corpus.path, "--out", out).status, 0)

        let encoded = try gptDist("encode", "--dir", out, "--file", corpus.path)
        XCTAssertEqual(encoded.status, 0, encoded.output)
        let ids = encoded.stdout.split(whereSeparator: { $0 == " " || $0 == "\n" }).map(String.init)
        XCTAssertLessThan(ids.count, text.utf8.count / 2)
        XCTAssertTrue(ids.allSatisfy { Int($0).map { (0..<300).contains($0) } ?? false })

        let decoded = try runProduct("gpt-dist", ["tokenizer", "decode", "--dir", out] + ids)
        XCTAssertEqual(decoded.status, 0, decoded.output)
        XCTAssertEqual(decoded.stdout, text)
    }

    func testEncodeGivesHuggingFaceIDs() throws {
        let v400 = Self.fixtures.appendingPathComponent("v400")
        let vocab = v400.appendingPathComponent("vocab.json").path
        let merges = v400.appendingPathComponent("merges.txt").path
        let expected = try JSONSerialization.jsonObject(
            with: Data(contentsOf: Self.fixtures.appendingPathComponent("expected.json"))) as! [String: Any]
        let cases = expected["cases"] as! [[String: Any]]
        let item = try XCTUnwrap(cases.first { ($0["text"] as! String) == "Hello<|endoftext|>World" })
        let ids = (item["ids"] as! [String: [Int]])["v400"]!

        let plain = try gptDist("encode", "--vocab", vocab, "--merges", merges, "Hello<|endoftext|>World")
        XCTAssertEqual(plain.status, 0, plain.output)
        XCTAssertEqual(plain.stdout, ids.map(String.init).joined(separator: " ") + "\n")
        let json = try gptDist("encode", "--vocab", vocab, "--merges", merges, "--json", "Hello<|endoftext|>World")
        XCTAssertEqual(json.stdout, "[" + ids.map(String.init).joined(separator: ",") + "]\n")
        let piped = try TestSupport.run(productURL("gpt-dist"), ["tokenizer", "encode", "--dir", v400.path],
                            stdin: "Hello<|endoftext|>World")
        XCTAssertEqual(piped.stdout, plain.stdout, piped.output)
        let shown = try gptDist("encode", "--dir", v400.path, "--show", " the")
        XCTAssertEqual(shown.stdout, "265\tĠthe\n")

        let decoded = try gptDist("decode", "--vocab", vocab, "--merges", merges, "[" + ids.map(String.init).joined(separator: ",") + "]")
        XCTAssertEqual(decoded.stdout, "Hello<|endoftext|>World")
    }

    func testErrorsAreOneLineWithNonZeroExit() throws {
        let v400 = Self.fixtures.appendingPathComponent("v400")
        let vocab = v400.appendingPathComponent("vocab.json").path
        let badMerges = directory.appendingPathComponent("merges.txt")
        try "#version: 0.2\nh e\nq zz\n".write(to: badMerges, atomically: true, encoding: .utf8)

        assertFailsWithOneLine(try gptDist("encode", "--vocab", vocab, "--merges", badMerges.path, "hi"),
                               containing: "\(badMerges.path):3: merge \"q zz\": \"zz\" is not in the vocabulary \(vocab)")
        assertFailsWithOneLine(try gptDist("decode", "--dir", v400.path, "5", "400"),
                               containing: "token id 400 at position 1 is outside the vocabulary (0..<400)")
        assertFailsWithOneLine(try gptDist("decode", "--dir", v400.path, "5", "x7"),
                               containing: "\"x7\" is not a token id")
        assertFailsWithOneLine(try gptDist("encode", "--dir", directory.path, "hi"),
                               containing: "holds neither vocab.json + merges.txt nor encoder.json + vocab.bpe")

        let notText = directory.appendingPathComponent("binary.txt")
        try Data([0x61, 0xFF, 0xFE, 0x00]).write(to: notText)
        assertFailsWithOneLine(try gptDist("train", "--vocab-size", "300", notText.path, "--out", directory.appendingPathComponent("o").path),
                               containing: "\(notText.path): is not UTF-8 text")
        let empty = directory.appendingPathComponent("empty.txt")
        try Data().write(to: empty)
        assertFailsWithOneLine(try gptDist("train", "--vocab-size", "300", empty.path, "--out", directory.appendingPathComponent("o").path),
                               containing: "\(empty.path): the file is empty")
        XCTAssertFalse(FileManager.default.fileExists(atPath: directory.appendingPathComponent("o").path))

        let small = try gptDist("train", "--vocab-size", "100", empty.path, "--out", directory.appendingPathComponent("o").path)
        XCTAssertNotEqual(small.status, 0)
        XCTAssertTrue(small.stderr.contains("--vocab-size must be at least 257"), small.output)
        XCTAssertNotEqual(try gptDist("encode", "hi").status, 0)
    }
}
