import XCTest
import TestSupport

/// `mpirun -np N gpt-dist prepare`: every rank encodes a share of the corpus and the folder holds
/// the dataset one process writes (same tokens, split, shards and metadata); a failure on one rank
/// ends every rank with one line; `--invalid-utf8`.
final class PrepareMPIRunTests: XCTestCase {
    var folder: URL!
    override func setUpWithError() throws {
        guard mpirunURL != nil else { throw XCTSkip("mpirun not found on PATH (install openmpi-bin)") }
        folder = try makeTemporaryDirectory("prepare-mpirun")
    }
    override func tearDownWithError() throws { if let folder { try? FileManager.default.removeItem(at: folder) } }

    @discardableResult
    private func file(_ name: String, _ bytes: [UInt8]) throws -> String {
        let url = folder.appendingPathComponent(name)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(bytes).write(to: url)
        return url.path
    }

    private func out(_ name: String) -> String { folder.appendingPathComponent(name).path }

    /// Runs `gpt-dist prepare` alone (np nil) or under mpirun.
    private func prepare(_ arguments: [String], np: Int? = nil) throws -> ProcessResult {
        if let np { return try mpirun(np: np, "gpt-dist", ["prepare"] + arguments) }
        return try runProduct("gpt-dist", ["prepare"] + arguments)
    }

    /// Four files in a folder: accents, CJK, emoji, "\r\n", whitespace runs, one with no newline.
    private func corpus() throws -> (folder: String, text: String) {
        let texts = [(0..<150).map { "Ligne \($0): café, naïve, 日本語 🙂\r\n" }.joined(),
                     "a single line without a newline",
                     (0..<200).map { i in i % 5 == 0 ? "  \n\n   indented \(i)\n" : "ROMEO \(i % 13): O, she doth teach the torches!\n" }.joined(),
                     String(repeating: "word ", count: 400) + "\n"]
        for (i, text) in texts.enumerated() { try file("corpus/\(i).txt", Array(text.utf8)) }
        return (folder.appendingPathComponent("corpus").path, texts.joined())
    }

    private static let bpeFixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("GPTTests/Fixtures/bpe")

    private var bpeArguments: [String] {
        ["--tokenizer", "bpe", "--vocab", Self.bpeFixtures.appendingPathComponent("v400/vocab.json").path,
         "--merges", Self.bpeFixtures.appendingPathComponent("v400/merges.txt").path]
    }

    /// Prepares `arguments` alone and on 2 and 3 ranks; asserts the three folders hold the same dataset.
    private func assertRanksMatchOneProcess(_ arguments: [String], file: StaticString = #filePath, line: UInt = #line) throws -> DatasetSnapshot {
        let alone = try prepare(arguments + ["--out", out("np1")])
        XCTAssertEqual(alone.status, 0, alone.output, file: file, line: line)
        let reference = try DatasetSnapshot(folder: out("np1"))
        XCTAssertTrue(reference.hasOneDatasetID, file: file, line: line)
        for np in [2, 3] {
            let result = try prepare(arguments + ["--out", out("np\(np)")], np: np)
            XCTAssertEqual(result.status, 0, result.output, file: file, line: line)
            // Rank 0 alone reports, with the counts of the one process.
            XCTAssertEqual(result.stdout.components(separatedBy: "prepared ").count - 1, 1, result.stdout, file: file, line: line)
            XCTAssertTrue(result.stdout.contains("by \(np) ranks"), result.stdout, file: file, line: line)
            let counts = try XCTUnwrap(alone.stdout.range(of: #"\d+ train and \d+ val tokens"#, options: .regularExpression))
            XCTAssertTrue(result.stdout.contains(alone.stdout[counts]), result.stdout, file: file, line: line)
            let snapshot = try DatasetSnapshot(folder: out("np\(np)"))
            XCTAssertEqual(snapshot, reference, "np \(np): \(snapshot) vs \(reference)", file: file, line: line)
            XCTAssertTrue(snapshot.hasOneDatasetID, "np \(np): \(snapshot.datasetIDs)", file: file, line: line)
        }
        return reference
    }

    func testCharDatasetOfSeveralFilesIsTheSameOnTwoAndThreeRanks() throws {
        let (inputs, text) = try corpus()
        let snapshot = try assertRanksMatchOneProcess(["--input", inputs, "--shard-tokens", "3000"])
        let n = text.unicodeScalars.count
        XCTAssertEqual(snapshot.tokens("train").count, Int(Double(n) * 0.9))
        XCTAssertEqual(snapshot.tokens("train").count + snapshot.tokens("val").count, n)
        XCTAssertEqual(decodeCharacters(snapshot), text)
        XCTAssertEqual(snapshot.fileNames.filter { $0.hasPrefix("train_") }.count, (Int(Double(n) * 0.9) + 2999) / 3000)
    }

    func testCharDatasetOfOneFileIsTheSameOnTwoAndThreeRanks() throws {
        let text = (0..<400).map { "Line \($0): to be, or not to be? — ça dépend 🙂\n" }.joined()
        let input = try file("one.txt", Array(text.utf8))
        let snapshot = try assertRanksMatchOneProcess(["--input", input, "--shard-tokens", "2500", "--val-fraction", "0.2"])
        XCTAssertEqual(decodeCharacters(snapshot), text)
        XCTAssertEqual(snapshot.tokens("val").count, text.unicodeScalars.count - Int(Double(text.unicodeScalars.count) * 0.8))
    }

    func testBPEDatasetIsTheSameOnTwoAndThreeRanks() throws {
        // One file (shared by the ranks at line starts) and then the folder of four.
        let sample = try String(contentsOf: Self.bpeFixtures.appendingPathComponent("sample.txt"), encoding: .utf8)
        let text = (0..<10).map { sample + "line \($0)  \n\n   \n's indented\n<|endoftext|>\nX\n \nY  Z\r\nend.\n" }.joined()
        let input = try file("bpe.txt", Array(text.utf8))
        let one = try assertRanksMatchOneProcess(["--input", input, "--shard-tokens", "1000"] + bpeArguments)
        XCTAssertEqual(one.attributes["meta.h5"]?["/"]?["tokenizer"], "\"bpe\"")
        XCTAssertEqual(one.attributes["meta.h5"]?["/"]?["vocab_size"], "400")
        try FileManager.default.removeItem(atPath: out("np1"))
        try FileManager.default.removeItem(atPath: out("np2"))
        try FileManager.default.removeItem(atPath: out("np3"))
        let (inputs, _) = try corpus()
        _ = try assertRanksMatchOneProcess(["--input", inputs, "--shard-tokens", "1500"] + bpeArguments)
    }

    func testFailureOnOneRankEndsEveryRankWithOneLine() throws {
        let (inputs, _) = try corpus()
        var bad = Array(String(repeating: "z", count: 60).utf8)
        bad.insert(0xE9, at: 41)  // Latin-1 é, in the last file: only the last rank reads it
        let badPath = try file("corpus/9.txt", bad)
        let alone = try prepare(["--input", inputs, "--out", out("np1")])
        XCTAssertEqual(alone.status, 1, alone.output)
        XCTAssertEqual(alone.stderr, "gpt-dist prepare: error: \(badPath): not UTF-8 text (invalid byte at offset 41)\n")
        for np in [2, 3] {
            let result = try prepare(["--input", inputs, "--out", out("np\(np)")], np: np)
            XCTAssertNotEqual(result.status, 0, result.output)
            // Our one line (mpirun adds its own note that a rank exited non-zero).
            let ours = result.stderr.split(separator: "\n").filter { $0.contains("gpt-dist") }
            XCTAssertEqual(ours, [Substring(alone.stderr.dropLast())], result.output)
            XCTAssertFalse(result.output.contains("MPI_ABORT") || result.output.contains("MPI_Abort"), result.output)
            XCTAssertFalse(FileManager.default.fileExists(atPath: out("np\(np)")), "np \(np): the folder is removed")
        }
    }

    func testExistingOutputIsRefusedOnceAndLeftAlone() throws {
        let (inputs, _) = try corpus()
        try file("taken/notes.txt", Array("keep".utf8))
        let result = try prepare(["--input", inputs, "--out", out("taken")], np: 2)
        XCTAssertNotEqual(result.status, 0)
        let ours = result.stderr.split(separator: "\n").filter { $0.contains("gpt-dist") }
        XCTAssertEqual(ours, ["gpt-dist prepare: error: \(out("taken")): output folder exists and is not empty; choose a new --out"])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: out("taken")), ["notes.txt"])
    }

    // MARK: --invalid-utf8

    /// Two files with ill-formed UTF-8, and the text Python makes of them:
    ///
    ///     python3 -c "print(ascii(b'ab\xffcd\n'.decode('utf-8', 'replace')),
    ///                       ascii(b'\xe6\x97 x\xc0\xaf\xf0\x9f\x98!\n'.decode('utf-8', 'replace')))"
    ///     'ab\ufffdcd\n' '\ufffd x\ufffd\ufffd\ufffd!\n'
    private func badCorpus() throws -> (folder: String, text: String, second: String) {
        let lines = String(repeating: "a line of text\n", count: 30)
        try file("bad/a.txt", Array(lines.utf8) + [0x61, 0x62, 0xFF, 0x63, 0x64, 0x0A])
        let second = try file("bad/b.txt", [0xE6, 0x97, 0x20, 0x78, 0xC0, 0xAF, 0xF0, 0x9F, 0x98, 0x21, 0x0A] + Array(lines.utf8))
        let text = lines + "ab\u{FFFD}cd\n" + "\u{FFFD} x\u{FFFD}\u{FFFD}\u{FFFD}!\n" + lines
        return (folder.appendingPathComponent("bad").path, text, second)
    }

    func testInvalidUTF8ReplaceGivesPythonsTextAndCountsOverRanks() throws {
        let (inputs, text, _) = try badCorpus()
        let snapshot = try assertRanksMatchOneProcess(["--input", inputs, "--invalid-utf8", "replace", "--shard-tokens", "300"])
        XCTAssertEqual(decodeCharacters(snapshot), text)
        for np in [nil, 2] as [Int?] {
            let name = "count\(np ?? 1)"
            let result = try prepare(["--input", inputs, "--out", out(name), "--invalid-utf8", "replace"], np: np)
            XCTAssertEqual(result.status, 0, result.output)
            let lines = result.stdout.split(separator: "\n").filter { $0.hasPrefix("invalid UTF-8:") }
            XCTAssertEqual(lines, ["invalid UTF-8: 5 ill-formed byte sequence(s) replaced with U+FFFD"], result.output)
        }
    }

    func testInvalidUTF8ErrorNamesTheFileAndOffsetOnRanks() throws {
        let (inputs, _, second) = try badCorpus()
        // The first bad byte in corpus order: a.txt, after 30 lines of 15 bytes and "ab".
        let first = folder.appendingPathComponent("bad/a.txt").path
        for np in [nil, 2, 3] as [Int?] {
            let result = try prepare(["--input", inputs, "--out", out("e\(np ?? 1)"), "--invalid-utf8", "error"], np: np)
            XCTAssertNotEqual(result.status, 0)
            let ours = result.stderr.split(separator: "\n").filter { $0.contains("gpt-dist") }
            XCTAssertEqual(ours, ["gpt-dist prepare: error: \(first): not UTF-8 text (invalid byte at offset 452)"], result.output)
        }
        let alone = try prepare(["--input", second, "--out", out("second")])
        XCTAssertEqual(alone.stderr, "gpt-dist prepare: error: \(second): not UTF-8 text (invalid byte at offset 0)\n")
        let wrong = try prepare(["--input", inputs, "--out", out("wrong"), "--invalid-utf8", "ignore"], np: 2)
        XCTAssertEqual(wrong.stderr.split(separator: "\n").filter { $0.contains("gpt-dist") },
                       ["gpt-dist prepare: error: --invalid-utf8 must be error or replace; got ignore"], wrong.output)
    }

    /// The text of a char dataset: its tokens looked up in its stored vocabulary.
    private func decodeCharacters(_ snapshot: DatasetSnapshot) -> String {
        let vocabulary = snapshot.datasets["meta.h5"]?["/tokenizer/vocabulary"]?.values ?? []
        let scalars = Array(String(decoding: vocabulary.map { UInt8($0) }, as: UTF8.self).unicodeScalars)
        var text = String.UnicodeScalarView()
        for id in snapshot.tokens("train") + snapshot.tokens("val") { text.append(scalars[Int(id)]) }
        return String(text)
    }
}
