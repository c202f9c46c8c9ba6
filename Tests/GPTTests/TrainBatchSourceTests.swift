import Foundation
import XCTest
@testable import GPT

/// The in-memory batches of a small dataset are exactly the loader's (shard reads), for training
/// and evaluation windows, across shard boundaries.
final class TrainBatchSourceTests: XCTestCase {
    func testInMemoryBatchesEqualTheLoaders() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("batches-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let text = directory.appendingPathComponent("t.txt")
        let words = ["alpha ", "beta ", "gamma\n", "delta, ", "epsilon. "]
        try (0..<3000).map { words[($0 * 7 + $0 / 3) % words.count] }.joined().write(to: text, atomically: true, encoding: .utf8)
        var options = PrepareOptions(inputs: [text.path], output: directory.appendingPathComponent("data").path)
        options.shardTokens = 5000  // several shards, so windows cross shard boundaries
        _ = try DatasetPreparer.prepare(options, tokenizer: nil)

        let loader = try TokenLoader(directory: options.output)
        let source = try BatchSource(loader: loader)
        XCTAssertTrue(source.isInMemory)
        let t = 24, layout = BatchLayout(worldSize: 2, microStepsPerRank: 3, batchSize: 5)
        var a = [Int32](repeating: -1, count: 5 * t), b = a, x = a, y = a
        for step in 0..<20 {
            for rank in 0..<2 {
                for micro in 0..<3 {
                    try loader.trainingBatch(seed: 9, step: step, layout: layout, rank: rank, microStep: micro,
                                             blockSize: t, inputs: &a, targets: &b)
                    try source.trainingBatch(seed: 9, step: step, layout: layout, rank: rank, microStep: micro,
                                             blockSize: t, inputs: &x, targets: &y)
                    XCTAssertEqual(a, x, "inputs of step \(step), rank \(rank), micro-step \(micro)")
                    XCTAssertEqual(b, y)
                }
            }
            for split in [DataSplit.train, .val] {
                try loader.randomBatch(split: split, purpose: .evaluation, seed: 9, step: step, sequences: 0..<5,
                                       blockSize: t, inputs: &a, targets: &b)
                try source.randomBatch(split: split, purpose: .evaluation, seed: 9, step: step, sequences: 0..<5,
                                       blockSize: t, inputs: &x, targets: &y)
                XCTAssertEqual(a, x, "\(split) eval batch \(step)")
                XCTAssertEqual(b, y)
            }
        }
        XCTAssertEqual(Array(x[1..<t]), Array(y[0..<(t - 1)]), "targets are the inputs shifted by one")
    }
}
