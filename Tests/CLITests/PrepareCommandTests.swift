import XCTest
import TestSupport

/// Runs the built `gpt-dist prepare` and checks what a user sees: files, exit codes, one-line errors.
final class PrepareCommandTests: XCTestCase {
    var folder: URL!
    override func setUpWithError() throws { folder = try makeTemporaryDirectory("prepare-cli") }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: folder) }

    private func file(_ name: String, _ bytes: [UInt8]) throws -> String {
        let url = folder.appendingPathComponent(name)
        try Data(bytes).write(to: url)
        return url.path
    }

    private func corpus(_ name: String = "corpus.txt", lines: Int = 400) throws -> String {
        try file(name, Array((0..<lines).map { "Line \($0): to be, or not to be?\n" }.joined().utf8))
    }

    /// Asserts a failed run: exit status 1, stderr one line that contains every fragment.
    private func assertOneLineError(_ result: ProcessResult, _ fragments: [String],
                                    file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(result.status, 1, result.output, file: file, line: line)
        let text = result.stderr.trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertEqual(text.split(separator: "\n").count, 1, "stderr is not one line: \(result.stderr)", file: file, line: line)
        XCTAssertTrue(text.hasPrefix("gpt-dist prepare: error: "), text, file: file, line: line)
        for fragment in fragments {
            XCTAssertTrue(text.contains(fragment), "\(fragment) not in: \(text)", file: file, line: line)
        }
    }

    private func contents(_ path: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).sorted()
    }

    func testPrepareWritesShardsAndMeta() throws {
        let input = try corpus()
        let out = folder.appendingPathComponent("out").path
        let result = try runProduct("gpt-dist", ["prepare", "--input", input, "--out", out,
                                                 "--shard-tokens", "5000", "--workers", "2"])
        XCTAssertEqual(result.status, 0, result.output)
        // 400 lines, 12,290 characters: train int(0.9 * n) = 11,061, val 1,229 (Python-checked).
        XCTAssertTrue(result.stdout.contains("11061 train and 1229 val tokens"), result.stdout)
        XCTAssertEqual(contents(out), ["meta.h5", "train_000000.h5", "train_000001.h5", "train_000002.h5", "val_000000.h5"])
    }

    func testOutputFolderThatExistsIsRefusedAndLeftAlone() throws {
        let input = try corpus()
        let out = folder.appendingPathComponent("out")
        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: false)
        try Data("keep".utf8).write(to: out.appendingPathComponent("notes.txt"))
        let result = try runProduct("gpt-dist", ["prepare", "--input", input, "--out", out.path])
        assertOneLineError(result, [out.path, "exists"])
        XCTAssertEqual(contents(out.path), ["notes.txt"])
    }

    func testEmptyFileIsRefusedAndNothingIsLeft() throws {
        let input = try file("empty.txt", [])
        let out = folder.appendingPathComponent("out").path
        assertOneLineError(try runProduct("gpt-dist", ["prepare", "--input", input, "--out", out]), [input, "empty"])
        XCTAssertFalse(FileManager.default.fileExists(atPath: out))
    }

    func testNonUTF8FileNamesFileAndOffset() throws {
        var bytes = Array("hello world\n".utf8)
        bytes.insert(0xE9, at: 6)  // Latin-1 é
        let input = try file("latin1.txt", bytes)
        let out = folder.appendingPathComponent("out").path
        assertOneLineError(try runProduct("gpt-dist", ["prepare", "--input", input, "--out", out]),
                           [input, "not UTF-8", "offset 6"])
        XCTAssertFalse(FileManager.default.fileExists(atPath: out))
    }

    func testCorpusTooSmallForASplit() throws {
        let input = try file("tiny.txt", Array("abcdefghij".utf8))
        let out = folder.appendingPathComponent("out").path
        assertOneLineError(try runProduct("gpt-dist", ["prepare", "--input", input, "--out", out]),
                           ["val split has 1 tokens"])
        XCTAssertFalse(FileManager.default.fileExists(atPath: out))
    }

    func testCorpusShorterThanOneBlock() throws {
        let input = try corpus(lines: 20)  // 590 characters: val gets 59
        let out = folder.appendingPathComponent("out").path
        assertOneLineError(try runProduct("gpt-dist", ["prepare", "--input", input, "--out", out, "--block-size", "256"]),
                           ["val split has 59 tokens; at least 257 are needed"])
        XCTAssertFalse(FileManager.default.fileExists(atPath: out))
        let ok = try runProduct("gpt-dist", ["prepare", "--input", input, "--out", out, "--block-size", "58"])
        XCTAssertEqual(ok.status, 0, ok.output)
    }

    func testBadOptionsAreOneLineErrors() throws {
        let input = try corpus()
        let out = folder.appendingPathComponent("out").path
        assertOneLineError(try runProduct("gpt-dist", ["prepare", "--input", input, "--out", out, "--tokenizer", "words"]),
                           ["--tokenizer must be char or bpe"])
        assertOneLineError(try runProduct("gpt-dist", ["prepare", "--input", input, "--out", out, "--tokenizer", "bpe"]),
                           ["--vocab", "--merges"])
        assertOneLineError(try runProduct("gpt-dist", ["prepare", "--input", input, "--out", out, "--val-fraction", "1.5"]),
                           ["--val-fraction"])
        assertOneLineError(try runProduct("gpt-dist", ["prepare", "--input", folder.appendingPathComponent("missing.txt").path,
                                                       "--out", out]), ["missing.txt", "no such file"])
        XCTAssertFalse(FileManager.default.fileExists(atPath: out))
    }

    static let bpeFixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("GPTTests/Fixtures/bpe")

    func testPrepareWithBPE() throws {
        let input = try corpus()
        let out = folder.appendingPathComponent("out").path
        let result = try runProduct("gpt-dist", ["prepare", "--input", input, "--out", out, "--tokenizer", "bpe",
                                                 "--vocab", Self.bpeFixtures.appendingPathComponent("v400/vocab.json").path,
                                                 "--merges", Self.bpeFixtures.appendingPathComponent("v400/merges.txt").path])
        XCTAssertEqual(result.status, 0, result.output)
        XCTAssertTrue(result.stdout.contains("bpe tokenizer, vocabulary 400"), result.stdout)
        XCTAssertEqual(contents(out), ["meta.h5", "train_000000.h5", "val_000000.h5"])
    }

    func testMismatchedVocabAndMergesAreOneLineError() throws {
        let input = try corpus()
        let out = folder.appendingPathComponent("out").path
        let merges = Self.bpeFixtures.appendingPathComponent("full/merges.txt").path
        let result = try runProduct("gpt-dist", ["prepare", "--input", input, "--out", out, "--tokenizer", "bpe",
                                                 "--vocab", Self.bpeFixtures.appendingPathComponent("v400/vocab.json").path,
                                                 "--merges", merges])
        assertOneLineError(result, [merges])
        XCTAssertFalse(FileManager.default.fileExists(atPath: out))
    }
}
