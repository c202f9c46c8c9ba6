import Foundation
import XCTest
@testable import GPT

/// The in-memory windows of a small dataset are exactly the loader's (shard reads), on both
/// splits, across shard boundaries and at both ends of the range of starts.
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
        let t = 24, rows = 5
        var a = [Int32](repeating: -1, count: rows * t), b = a, x = a, y = a
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
                try source.windows(split: split, starts: starts[...], blockSize: t, inputs: &x, targets: &y)
                XCTAssertEqual(a, x, "\(split) windows of round \(round)")
                XCTAssertEqual(b, y)
                for bad in [-1, last + 1] {
                    XCTAssertThrowsError(try source.windows(split: split, starts: [bad][...], blockSize: t, inputs: &x, targets: &y))
                }
            }
        }
        XCTAssertEqual(Array(x[1..<t]), Array(y[0..<(t - 1)]), "targets are the inputs shifted by one")
    }
}
