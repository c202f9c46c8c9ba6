import XCTest
@testable import GPT
import TestSupport
import HDF5

/// `DatasetPreparer` → HDF5 shards → `TokenLoader`, on small generated corpora.
final class DataPrepareTests: XCTestCase {
    var folder: URL!
    override func setUpWithError() throws { folder = try makeTemporaryDirectory("data-prepare") }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: folder) }

    @discardableResult
    func write(_ name: String, _ text: String) throws -> String {
        let url = folder.appendingPathComponent(name)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(text.utf8).write(to: url)
        return url.path
    }

    /// A corpus with unicode, "\r\n" and a few thousand characters, as two files in a folder.
    func makeCorpus() throws -> (inputs: String, text: String) {
        var a = "", b = ""
        for i in 0..<120 { a += "Ligne \(i): café, naïve, 日本語 🙂\r\n" }
        for i in 0..<80 { b += "ROMEO \(i * 7 % 13): O, she doth teach the torches to burn bright!\n" }
        try write("corpus/b.txt", b)
        try write("corpus/a.txt", a)
        return (folder.appendingPathComponent("corpus").path, a + b)
    }

    func allTokens(_ loader: TokenLoader, _ split: DataSplit) throws -> [Int32] {
        var buffer = [Int32](repeating: -1, count: loader.tokenCount(split))
        try loader.readTokens(split, start: 0, count: buffer.count, into: &buffer)
        return buffer
    }

    func testShardsConcatenateToTheEncodingOfTheCorpus() throws {
        let (inputs, text) = try makeCorpus()
        let out = folder.appendingPathComponent("out").path
        var options = PrepareOptions(inputs: [inputs], output: out)
        options.shardTokens = 500
        options.chunkBytes = 300  // many chunks: the stream is cut and stitched often
        let summary = try DatasetPreparer.prepare(options, tokenizer: nil)
        let reference = try CharTokenizer(corpus: text)
        let expected = try reference.encode(text)
        let n = text.unicodeScalars.count
        XCTAssertEqual(summary.trainTokens, Int(Double(n) * 0.9))
        XCTAssertEqual(summary.trainTokens + summary.valTokens, n)
        XCTAssertEqual(summary.vocabularySize, reference.vocabularySize)
        XCTAssertEqual(summary.width, .uint16)

        let loader = try TokenLoader(directory: out)
        XCTAssertEqual(loader.vocabularySize, reference.vocabularySize)
        XCTAssertEqual(loader.tokenizer as? CharTokenizer, reference)
        XCTAssertEqual(loader.tokenCount(.train), summary.trainTokens)
        XCTAssertEqual(try allTokens(loader, .train) + allTokens(loader, .val), expected)
        XCTAssertEqual(loader.tokenizer.decode(try allTokens(loader, .train) + allTokens(loader, .val)), text)

        // Shard sizes: all full but the last of each split.
        let files = try FileManager.default.contentsOfDirectory(atPath: out).sorted()
        let trainShards = (summary.trainTokens + 499) / 500, valShards = (summary.valTokens + 499) / 500
        XCTAssertEqual(files, ["meta.h5"] + (0..<trainShards).map { ShardSpec.fileName(split: .train, index: $0) }
                       + (0..<valShards).map { ShardSpec.fileName(split: .val, index: $0) })
        XCTAssertEqual(summary.shardFiles.count, trainShards + valShards)
    }

    func testFewOpenShardsStillReadEverything() throws {
        let (inputs, text) = try makeCorpus()
        let out = folder.appendingPathComponent("out").path
        var options = PrepareOptions(inputs: [inputs], output: out)
        options.shardTokens = 100
        _ = try DatasetPreparer.prepare(options, tokenizer: nil)
        let loader = try TokenLoader(directory: out, openShardLimit: 2)
        let stream = try CharTokenizer(corpus: text).encode(text)
        // The trainer's batches, read from the shards (not a copy in memory).
        var batches = try BatchStream(source: BatchSource(loader: loader, memoryLimit: 0),
                                      layout: BatchLayout(worldSize: 1, microStepsPerRank: 1, batchSize: 16),
                                      evalIters: 0, blockSize: 150, generator: TorchGenerator(seed: 5))
        var x: [Int32] = [], y: [Int32] = []
        for _ in 0..<3 {
            batches.beginIteration()
            try batches.trainingBatch(rank: 0, microStep: 0, inputs: &x, targets: &y)
            for (row, start) in batches.trainStarts.enumerated() {
                XCTAssertEqual(Array(x[(row * 150)..<((row + 1) * 150)]), Array(stream[start..<(start + 150)]))
            }
            batches.endIteration()
        }
        XCTAssertEqual(try allTokens(loader, .train) + allTokens(loader, .val), stream)
    }

    func testWorkersDoNotChangeTheTokens() throws {
        let (inputs, _) = try makeCorpus()
        var results: [[Int32]] = []
        for workers in [1, 3] {
            let out = folder.appendingPathComponent("out\(workers)").path
            var options = PrepareOptions(inputs: [inputs], output: out)
            options.workers = workers
            options.chunkBytes = 256
            options.shardTokens = 1000
            _ = try DatasetPreparer.prepare(options, tokenizer: nil)
            let loader = try TokenLoader(directory: out)
            results.append(try allTokens(loader, .train) + allTokens(loader, .val))
        }
        XCTAssertEqual(results[0], results[1])
    }

    func testZeroValFractionWritesNoValShards() throws {
        let (inputs, text) = try makeCorpus()
        let out = folder.appendingPathComponent("out").path
        var options = PrepareOptions(inputs: [inputs], output: out)
        options.valFraction = 0
        let summary = try DatasetPreparer.prepare(options, tokenizer: nil)
        XCTAssertEqual(summary.trainTokens, text.unicodeScalars.count)
        XCTAssertEqual(summary.valTokens, 0)
        let loader = try TokenLoader(directory: out)
        XCTAssertEqual(loader.tokenCount(.val), 0)
        XCTAssertEqual(loader.evalWindowCount(split: .val, blockSize: 8), 0)
    }

    // MARK: Bad datasets

    func prepared() throws -> String {
        let (inputs, _) = try makeCorpus()
        let out = folder.appendingPathComponent("out").path
        var options = PrepareOptions(inputs: [inputs], output: out)
        options.shardTokens = 1000
        _ = try DatasetPreparer.prepare(options, tokenizer: nil)
        return out
    }

    func assertLoaderError(_ directory: String, _ fragments: [String], file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try TokenLoader(directory: directory), file: file, line: line) { error in
            let text = "\(error)"
            XCTAssertFalse(text.contains("\n"), text, file: file, line: line)
            for fragment in fragments {
                XCTAssertTrue(text.contains(fragment), "\(fragment) not in: \(text)", file: file, line: line)
            }
        }
    }

    func testFolderWithoutMetaIsNotADataset() throws {
        let empty = folder.appendingPathComponent("empty").path
        try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: true)
        assertLoaderError(empty, [empty, "meta.h5"])
        assertLoaderError(folder.appendingPathComponent("nowhere").path, ["nowhere"])
    }

    func testTruncatedShardIsNamed() throws {
        let out = try prepared()
        let shard = URL(fileURLWithPath: out).appendingPathComponent("train_000001.h5")
        let bytes = try Data(contentsOf: shard)
        try bytes.prefix(bytes.count - 700).write(to: shard)
        assertLoaderError(out, ["train_000001.h5"])
    }

    func testGarbageShardIsNamed() throws {
        let out = try prepared()
        try Data("not hdf5 at all".utf8).write(to: URL(fileURLWithPath: out).appendingPathComponent("val_000000.h5"))
        assertLoaderError(out, ["val_000000.h5"])
    }

    func testMissingShardIsNamed() throws {
        let out = try prepared()
        try FileManager.default.removeItem(atPath: URL(fileURLWithPath: out).appendingPathComponent("train_000002.h5").path)
        assertLoaderError(out, ["train_000002.h5"])
    }

    func testShardFromAnotherDatasetIsRefused() throws {
        let out = try prepared()
        // Same layout, different vocabulary: a corpus of other characters.
        try write("other/x.txt", String(repeating: "xyz xyz zzz\n", count: 400))
        let other = folder.appendingPathComponent("other-out").path
        var options = PrepareOptions(inputs: [folder.appendingPathComponent("other/x.txt").path], output: other)
        options.shardTokens = 1000
        _ = try DatasetPreparer.prepare(options, tokenizer: nil)
        let name = "train_000000.h5"
        let target = URL(fileURLWithPath: out).appendingPathComponent(name)
        try FileManager.default.removeItem(at: target)
        try FileManager.default.copyItem(at: URL(fileURLWithPath: other).appendingPathComponent(name), to: target)
        assertLoaderError(out, [name])
    }

    func testPrepareCleansUpWhenEncodingFails() throws {
        try write("in/a.txt", "good text\n")
        var bad = Array("more text ".utf8); bad.append(0xFF)
        try Data(bad).write(to: folder.appendingPathComponent("in/b.txt"))
        let out = folder.appendingPathComponent("out").path
        XCTAssertThrowsError(try DatasetPreparer.prepare(PrepareOptions(inputs: [folder.appendingPathComponent("in").path], output: out), tokenizer: nil)) { error in
            XCTAssertEqual("\(error)", "\(self.folder.appendingPathComponent("in/b.txt").path): not UTF-8 text (invalid byte at offset 10)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: out))
        // An existing empty folder is used, and left (empty) after a failure.
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: false)
        XCTAssertThrowsError(try DatasetPreparer.prepare(PrepareOptions(inputs: [folder.appendingPathComponent("in").path], output: out), tokenizer: nil))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: out), [])
    }

    // MARK: Tiny Shakespeare (nanoGPT's numbers)

    /// `../shared/data/tinyshakespeare.txt` next to the package, or `/work/shared/data/...`.
    static var tinyShakespeare: String? {
        let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let candidates = [packageRoot.deletingLastPathComponent().appendingPathComponent("shared/data/tinyshakespeare.txt").path,
                          "/work/shared/data/tinyshakespeare.txt"]
        return candidates.first { FileManager.default.fileExists(atPath: $0) }
    }

    func testTinyShakespeareGivesNanoGPTCounts() throws {
        guard let input = Self.tinyShakespeare else {
            throw XCTSkip("tinyshakespeare.txt not found in ../shared/data or /work/shared/data (data file absent on this machine)")
        }
        let out = folder.appendingPathComponent("shakespeare_char").path
        let summary = try DatasetPreparer.prepare(PrepareOptions(inputs: [input], output: out), tokenizer: nil)
        XCTAssertEqual(summary.vocabularySize, 65)
        XCTAssertEqual(summary.trainTokens, 1_003_854)
        XCTAssertEqual(summary.valTokens, 111_540)
        let loader = try TokenLoader(directory: out)
        XCTAssertEqual(loader.tokenCount(.train), 1_003_854)
        XCTAssertEqual(loader.tokenCount(.val), 111_540)
        let tokenizer = try XCTUnwrap(loader.tokenizer as? CharTokenizer)
        XCTAssertEqual(tokenizer.vocabulary, "\n !$&',-.3:;?ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
        // nanoGPT: encode("First Citizen") with stoi of sorted(set(text)).
        var first = [Int32](repeating: 0, count: 13)
        try loader.readTokens(.train, start: 0, count: 13, into: &first)
        XCTAssertEqual(first, [18, 47, 56, 57, 58, 1, 15, 47, 58, 47, 64, 43, 52])
        var lastVal = [Int32](repeating: 0, count: 1)
        try loader.readTokens(.val, start: 111_539, count: 1, into: &lastVal)
        XCTAssertEqual(tokenizer.decode(lastVal), "\n")
    }
}

final class DataWideVocabularyTests: XCTestCase {
    func testMoreThan65536SymbolsAreStoredAsUInt32() throws {
        let folder = try makeTemporaryDirectory("data-wide")
        defer { try? FileManager.default.removeItem(at: folder) }
        // 70,000 distinct scalars from plane 2, each once, then a few repeats.
        var scalars = String.UnicodeScalarView()
        for value in 0x20000..<(0x20000 + 70_000) { scalars.append(Unicode.Scalar(UInt32(value))!) }
        let text = String(scalars) + "\u{20000}\u{20001}"
        let input = folder.appendingPathComponent("wide.txt")
        try Data(text.utf8).write(to: input)
        let out = folder.appendingPathComponent("out").path
        var options = PrepareOptions(inputs: [input.path], output: out)
        options.shardTokens = 30_000
        let summary = try DatasetPreparer.prepare(options, tokenizer: nil)
        XCTAssertEqual(summary.vocabularySize, 70_000)
        XCTAssertEqual(summary.width, .uint32)
        let shard = try H5File.open(at: URL(fileURLWithPath: out).appendingPathComponent("train_000002.h5").path)
        XCTAssertEqual(try shard.dataset("tokens").elementType, .uint32)
        XCTAssertEqual(try shard.dataset("tokens").shape, [3_001])  // 63,001 train tokens
        XCTAssertEqual(try shard.attribute("dtype", as: String.self), "uint32")
        shard.close()
        let loader = try TokenLoader(directory: out)
        var tail = [Int32](repeating: 0, count: 3)
        try loader.readTokens(.val, start: loader.tokenCount(.val) - 3, count: 3, into: &tail)
        XCTAssertEqual(tail, [69_999, 0, 1])
    }

    func testShardAttributesArePresent() throws {
        let folder = try makeTemporaryDirectory("data-attrs")
        defer { try? FileManager.default.removeItem(at: folder) }
        let input = folder.appendingPathComponent("a.txt")
        try Data(String(repeating: "abc def\n", count: 100).utf8).write(to: input)
        let out = folder.appendingPathComponent("out").path
        _ = try DatasetPreparer.prepare(PrepareOptions(inputs: [input.path], output: out), tokenizer: nil)
        let shard = try H5File.open(at: URL(fileURLWithPath: out).appendingPathComponent("val_000000.h5").path)
        defer { shard.close() }
        XCTAssertEqual(try shard.attribute("format", as: String.self), "gpt-dist.tokens")
        XCTAssertEqual(try shard.attribute("split", as: String.self), "val")
        XCTAssertEqual(try shard.attribute("vocab_size", as: Int.self), 8)  // "\n abcdef"
        XCTAssertEqual(try shard.attribute("tokenizer", as: String.self), "char")
        XCTAssertEqual(try shard.attribute("token_count", as: Int.self), 80)
        XCTAssertEqual(try shard.attribute("shard_index", as: Int.self), 0)
        XCTAssertEqual(try shard.attribute("source_files", as: [String].self), [input.path])
        XCTAssertEqual(try shard.dataset("tokens").elementType, .uint16)
        let meta = try H5File.open(at: URL(fileURLWithPath: out).appendingPathComponent("meta.h5").path)
        defer { meta.close() }
        XCTAssertEqual(try meta.attribute("train_tokens", as: Int.self), 720)
        XCTAssertEqual(try meta.group("tokenizer").attribute("kind", as: String.self), "char")
    }

    func testHDF5FileThatIsNotOurDatasetIsRefused() throws {
        let folder = try makeTemporaryDirectory("data-foreign")
        defer { try? FileManager.default.removeItem(at: folder) }
        let meta = try H5File.create(at: folder.appendingPathComponent("meta.h5").path)
        try meta.createDataset("weights", values: [Float(1), 2, 3])
        meta.close()
        XCTAssertThrowsError(try TokenLoader(directory: folder.path)) { error in
            XCTAssertEqual("\(error)", "\(folder.appendingPathComponent("meta.h5").path): not a gpt-dist token dataset: an HDF5 file without format = gpt-dist.tokens")
        }
    }
}
