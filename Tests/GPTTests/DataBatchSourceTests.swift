import Foundation
import XCTest
@testable import GPT
import TestSupport

/// The batch path on a prepared HDF5 dataset: `BatchSource`'s in-memory windows are exactly its
/// shard reads and `TokenLoader.windows`, on both splits, across shard boundaries and at both
/// ends of the range of starts; `BatchStream`'s rows are the corpus's tokens at its starts.
final class DataBatchSourceTests: XCTestCase {
    var folder: URL!
    override func setUpWithError() throws { folder = try makeTemporaryDirectory("batches") }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: folder) }

    /// A few thousand words prepared into shards of `shardTokens`; returns the dataset and the
    /// encoding of its text (train is its first tokens, val the rest).
    func prepare(shardTokens: Int) throws -> (loader: TokenLoader, tokens: [Int32]) {
        let text = folder.appendingPathComponent("t.txt")
        let words = ["alpha ", "beta ", "gamma\n", "delta, ", "epsilon. "]
        let corpus = (0..<3000).map { words[($0 * 7 + $0 / 3) % words.count] }.joined()
        try corpus.write(to: text, atomically: true, encoding: .utf8)
        var options = PrepareOptions(inputs: [text.path], output: folder.appendingPathComponent("data").path)
        options.shardTokens = shardTokens  // several shards, so windows cross shard boundaries
        _ = try DatasetPreparer.prepare(options, tokenizer: nil)
        return (try TokenLoader(directory: options.output), try CharTokenizer(corpus: corpus).encode(corpus))
    }

    func testInMemoryWindowsEqualTheShardsAndTheLoaders() throws {
        let (loader, tokens) = try prepare(shardTokens: 5000)
        let memory = try BatchSource(loader: loader, memoryLimit: .max)
        let shards = try BatchSource(loader: loader, memoryLimit: 0)
        XCTAssertTrue(memory.isInMemory)
        XCTAssertFalse(shards.isInMemory)
        let t = 24, rows = 5
        var a = [Int32](repeating: -1, count: rows * t), b = a, x = a, y = a, sx = a, sy = a
        var generator = TorchGenerator(seed: 9)
        for round in 0..<40 {
            for split in [DataSplit.train, .val] {
                let last = loader.tokenCount(split) - t - 1
                var starts = generator.randint(last + 1, count: rows)
                if round == 0 { starts[0] = 0; starts[rows - 1] = last }  // both ends of the range
                try a.withUnsafeMutableBufferPointer { ia in
                    try b.withUnsafeMutableBufferPointer { tb in
                        try starts.withUnsafeBufferPointer { try loader.windows(split: split, starts: $0, blockSize: t, inputs: ia, targets: tb) }
                    }
                }
                try memory.read(split, starts: starts[...], blockSize: t, inputs: &x, targets: &y)
                try shards.read(split, starts: starts[...], blockSize: t, inputs: &sx, targets: &sy)
                XCTAssertEqual(a, x, "\(split) windows of round \(round)")
                XCTAssertEqual(b, y)
                XCTAssertEqual(sx, x)
                XCTAssertEqual(sy, y)
                let offset = split == .train ? 0 : loader.tokenCount(.train)
                for (row, start) in starts.enumerated() {
                    XCTAssertEqual(batchRow(x, row, block: t), Array(tokens[(offset + start)..<(offset + start + t)]))
                    XCTAssertEqual(batchRow(y, row, block: t), Array(tokens[(offset + start + 1)..<(offset + start + t + 1)]))
                }
            }
        }
    }

    /// Two ranks of two micro-steps read the corpus's tokens at the stream's starts.
    func testStreamBatchesMatchTheTokenStream() throws {
        let (loader, tokens) = try prepare(shardTokens: 300)
        let block = 64
        for memoryLimit in [0, Int.max] {
            var stream = try BatchStream(source: BatchSource(loader: loader, memoryLimit: memoryLimit),
                                         layout: BatchLayout(worldSize: 2, microStepsPerRank: 2, batchSize: 3),
                                         evalIters: 1, blockSize: block, generator: TorchGenerator(seed: 42))
            for _ in 0..<9 { stream.beginIteration(); stream.endIteration() }
            stream.beginIteration()
            var x: [Int32] = [], y: [Int32] = []
            for rank in 0..<2 {
                for micro in 0..<2 {
                    try stream.trainingBatch(rank: rank, microStep: micro, inputs: &x, targets: &y)
                    for (row, j) in try stream.layout.sequences(rank: rank, microStep: micro).enumerated() {
                        let start = stream.trainStarts[j]
                        XCTAssertEqual(batchRow(x, row, block: block), Array(tokens[start..<(start + block)]))
                        XCTAssertEqual(batchRow(y, row, block: block), Array(tokens[(start + 1)..<(start + block + 1)]))
                    }
                }
            }
        }
    }
}
