import XCTest
@testable import GPT
import Parallel
import TestSupport

/// `DatasetPreparer` on several ranks (threads joined by `ThreadCommunicator`, as `mpirun` ranks
/// are by MPI) writes the dataset one process writes, and a failure on one rank stops them all.
final class DataMultiRankPrepareTests: XCTestCase {
    var folder: URL!
    override func setUpWithError() throws { folder = try makeTemporaryDirectory("data-multirank") }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: folder) }

    @discardableResult
    func write(_ name: String, _ bytes: [UInt8]) throws -> String {
        let url = folder.appendingPathComponent(name)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(bytes).write(to: url)
        return url.path
    }

    /// Four files of different sizes: unicode, "\r\n", whitespace runs, a file with no newline.
    func makeCorpus() throws -> (inputs: String, texts: [String]) {
        let texts = [(0..<90).map { "Ligne \($0): café, naïve, 日本語 🙂\r\n" }.joined(),
                     "one line, no newline at all",
                     (0..<150).map { i in i % 5 == 0 ? "  \n\n   indented \(i)\n" : "ROMEO \(i % 13): O, she doth teach the torches!\n" }.joined(),
                     String(repeating: "word ", count: 300) + "\n"]
        for (i, text) in texts.enumerated() { try write("corpus/\(i).txt", Array(text.utf8)) }
        return (folder.appendingPathComponent("corpus").path, texts)
    }

    func options(_ inputs: String, out: String) -> PrepareOptions {
        var options = PrepareOptions(inputs: [inputs], output: folder.appendingPathComponent(out).path)
        options.shardTokens = 700
        options.chunkBytes = 64  // many chunks per share
        return options
    }

    /// Prepares on `ranks` threads; every rank's summary (they must agree) and the folder's snapshot.
    func prepare(_ options: PrepareOptions, tokenizer: (any Tokenizer)?, ranks: Int,
                 file: StaticString = #filePath, line: UInt = #line) throws -> (PrepareSummary, DatasetSnapshot) {
        let outcomes = ThreadRanks.run(size: ranks) { communicator in
            try DatasetPreparer.prepare(options, tokenizer: tokenizer, communicator: communicator)
        }
        let summaries = try outcomes.map { try $0.get() }
        for summary in summaries.dropFirst() {
            XCTAssertEqual(summary.trainTokens, summaries[0].trainTokens, file: file, line: line)
            XCTAssertEqual(summary.valTokens, summaries[0].valTokens, file: file, line: line)
            XCTAssertEqual(summary.shardFiles, summaries[0].shardFiles, file: file, line: line)
            XCTAssertEqual(summary.replacements, summaries[0].replacements, file: file, line: line)
        }
        return (summaries[0], try DatasetSnapshot(folder: options.output))
    }

    func testCharDatasetIsTheSameOnOneToFourRanks() throws {
        let (inputs, texts) = try makeCorpus()
        let single = try DatasetPreparer.prepare(options(inputs, out: "one"), tokenizer: nil)
        let reference = try DatasetSnapshot(folder: options(inputs, out: "one").output)
        // The tokens are the corpus's, in order (nanoGPT's char encoding of the whole text).
        let text = texts.joined()
        let expected = try CharTokenizer(corpus: text).encode(text).map(Int64.init)
        XCTAssertEqual(reference.tokens("train") + reference.tokens("val"), expected)
        XCTAssertEqual(single.trainTokens, Int(Double(expected.count) * 0.9))
        XCTAssertTrue(reference.hasOneDatasetID)
        for ranks in 2...4 {
            let (summary, snapshot) = try prepare(options(inputs, out: "ranks\(ranks)"), tokenizer: nil, ranks: ranks)
            XCTAssertEqual(snapshot, reference, "\(ranks) ranks: \(snapshot) vs \(reference)")
            XCTAssertTrue(snapshot.hasOneDatasetID, "\(ranks) ranks: \(snapshot.datasetIDs)")
            XCTAssertEqual(summary.trainTokens, single.trainTokens)
            XCTAssertEqual(summary.shardFiles, single.shardFiles)
        }
    }

    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/bpe")

    func tokenizer() throws -> BPETokenizer {
        try BPETokenizer.load(vocabularyFile: Self.fixtures.appendingPathComponent("v400/vocab.json"),
                              mergesFile: Self.fixtures.appendingPathComponent("v400/merges.txt"))
    }

    func testBPEDatasetOfOneFileIsTheSameOnOneToFourRanks() throws {
        let bpe = try tokenizer()
        let sample = try String(contentsOf: Self.fixtures.appendingPathComponent("sample.txt"), encoding: .utf8)
        var text = ""
        for i in 0..<12 { text += sample + "line \(i)  \n\n   \n's indented\n<|endoftext|>\nX\n \nY  Z\r\nend.\n'll\n" }
        let input = try write("one.txt", Array(text.utf8))
        let expected = try bpe.encode(text).map(Int64.init)
        var base = options(input, out: "one")
        base.shardTokens = 900
        _ = try DatasetPreparer.prepare(base, tokenizer: bpe)
        let reference = try DatasetSnapshot(folder: base.output)
        XCTAssertEqual(reference.tokens("train") + reference.tokens("val"), expected)
        for ranks in 2...4 {
            var options = base
            options.output = folder.appendingPathComponent("ranks\(ranks)").path
            let partition = try CorpusPartition(files: [input], cut: .lineStart)
            XCTAssertTrue(try (0..<ranks).allSatisfy { try !partition.pieces(rank: $0, of: ranks).isEmpty },
                          "every rank encodes part of the one file")
            let (_, snapshot) = try prepare(options, tokenizer: bpe, ranks: ranks)
            XCTAssertEqual(snapshot, reference, "\(ranks) ranks: \(snapshot) vs \(reference)")
        }
    }

    func testMoreRanksThanCutsLeavesSomeRanksIdle() throws {
        // BPE cuts only before "\n" + a visible character: the first file has none, so one rank
        // encodes it all; the second is too short for more than one rank's share.
        let bpe = try tokenizer()
        let a = String(repeating: "hello world, hello ", count: 20) + "\n", b = "tail\n"
        try write("in/a.txt", Array(a.utf8))
        try write("in/b.txt", Array(b.utf8))
        let inputs = folder.appendingPathComponent("in").path
        let partition = try CorpusPartition(files: try InputFiles.resolve([inputs]), cut: .lineStart)
        XCTAssertEqual(try (0..<5).map { try partition.pieces(rank: $0, of: 5).count }, [1, 0, 0, 0, 1])
        let base = options(inputs, out: "one")
        _ = try DatasetPreparer.prepare(base, tokenizer: bpe)
        var options = base
        options.output = folder.appendingPathComponent("many").path
        let (_, snapshot) = try prepare(options, tokenizer: bpe, ranks: 5)
        XCTAssertEqual(snapshot, try DatasetSnapshot(folder: base.output))
        XCTAssertEqual(snapshot.tokens("train") + snapshot.tokens("val"), try (bpe.encode(a) + bpe.encode(b)).map(Int64.init))
    }

    func testFailureOnOneRankStopsEveryRankWithItsError() throws {
        let (inputs, _) = try makeCorpus()
        var bad = Array(String(repeating: "z", count: 40).utf8)
        bad.insert(0xFF, at: 17)
        let badPath = try write("corpus/4.txt", bad)  // last in corpus order: only the last rank reads it
        let expected = "\(badPath): not UTF-8 text (invalid byte at offset 17)"
        XCTAssertThrowsError(try DatasetPreparer.prepare(options(inputs, out: "one"), tokenizer: nil)) { error in
            XCTAssertEqual("\(error)", expected)
        }
        let out = options(inputs, out: "three").output
        let outcomes = ThreadRanks.run(size: 3) { communicator in
            try DatasetPreparer.prepare(self.options(inputs, out: "three"), tokenizer: nil, communicator: communicator)
        }
        for (rank, outcome) in outcomes.enumerated() {
            XCTAssertThrowsError(try outcome.get(), "rank \(rank)") { error in
                XCTAssertEqual(error as? AgreedFailure, AgreedFailure(rank: 2, message: expected), "rank \(rank)")
            }
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: out), "the folder prepare created is removed")
    }

    func testEmptyFileIsReportedByTheRankThatOwnsIt() throws {
        let (inputs, _) = try makeCorpus()
        let empty = try write("corpus/1b.txt", [])  // between 1.txt and 2.txt
        for ranks in [1, 3] {
            let outcomes = ThreadRanks.run(size: ranks) { communicator in
                try DatasetPreparer.prepare(self.options(inputs, out: "out\(ranks)"), tokenizer: nil, communicator: communicator)
            }
            for outcome in outcomes {
                XCTAssertThrowsError(try outcome.get()) { XCTAssertEqual("\($0)", "\(empty): input is empty", "\(ranks) ranks") }
            }
            XCTAssertFalse(FileManager.default.fileExists(atPath: options(inputs, out: "out\(ranks)").output))
        }
    }

    func testTheFirstFailureInCorpusOrderIsReported() throws {
        var early = Array(String(repeating: "a", count: 500).utf8), late = early
        early[300] = 0x80
        late[10] = 0xC3
        let first = try write("in/a.txt", early)
        try write("in/b.txt", late)
        let expected = "\(first): not UTF-8 text (invalid byte at offset 300)"
        for ranks in [1, 2, 3] {
            let outcomes = ThreadRanks.run(size: ranks) { communicator in
                try DatasetPreparer.prepare(self.options(self.folder.appendingPathComponent("in").path, out: "out\(ranks)"),
                                            tokenizer: nil, communicator: communicator)
            }
            for outcome in outcomes {
                XCTAssertThrowsError(try outcome.get()) { XCTAssertEqual("\($0)", expected, "\(ranks) ranks") }
            }
        }
    }

    func testExistingOutputIsRefusedOnEveryRankAndLeftAlone() throws {
        let (inputs, _) = try makeCorpus()
        let out = try write("taken/notes.txt", Array("keep".utf8))
        let outcomes = ThreadRanks.run(size: 3) { communicator in
            try DatasetPreparer.prepare(self.options(inputs, out: "taken"), tokenizer: nil, communicator: communicator)
        }
        let folderPath = URL(fileURLWithPath: out).deletingLastPathComponent().path
        for outcome in outcomes {
            XCTAssertThrowsError(try outcome.get()) { error in
                XCTAssertEqual(error as? AgreedFailure,
                               AgreedFailure(rank: 0, message: "\(folderPath): output folder exists and is not empty; choose a new --out"))
            }
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: folderPath), ["notes.txt"])
    }

    func testReplacementsAreCountedOverRanks() throws {
        // Python: b'ab\xffcd\n'.decode('utf-8', 'replace') == 'ab\ufffdcd\n' (1), and
        // b'\xe6\x97 x\xc0\xaf\n'.decode('utf-8', 'replace') == '\ufffd x\ufffd\ufffd\n' (3).
        let first = Array(String(repeating: "line of text\n", count: 20).utf8) + [0x61, 0x62, 0xFF, 0x63, 0x64, 0x0A]
        let second = [0xE6, 0x97, 0x20, 0x78, 0xC0, 0xAF, 0x0A] + Array(String(repeating: "more text\n", count: 20).utf8)
        try write("in/a.txt", first)
        try write("in/b.txt", second)
        let text = String(repeating: "line of text\n", count: 20) + "ab\u{FFFD}cd\n"
            + "\u{FFFD} x\u{FFFD}\u{FFFD}\n" + String(repeating: "more text\n", count: 20)
        let expected = try CharTokenizer(corpus: text).encode(text).map(Int64.init)
        var reference: DatasetSnapshot?
        for ranks in 1...3 {
            var options = options(folder.appendingPathComponent("in").path, out: "out\(ranks)")
            options.invalidUTF8 = .replace
            let (summary, snapshot) = try prepare(options, tokenizer: nil, ranks: ranks)
            XCTAssertEqual(summary.replacements, 4, "\(ranks) ranks")
            XCTAssertEqual(snapshot.tokens("train") + snapshot.tokens("val"), expected, "\(ranks) ranks")
            if let reference { XCTAssertEqual(snapshot, reference) } else { reference = snapshot }
        }
    }
}
