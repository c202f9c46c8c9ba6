import Foundation
import TestSupport
import XCTest

/// A small, deterministic corpus and dataset for the training tests (no network, no shared files).
enum TrainTestData {
    /// About `characters` characters of word salad over a small vocabulary: learnable (spelling,
    /// spaces, line breaks), deterministic, ASCII.
    static func corpus(characters: Int = 40_000) -> String {
        let words = ["the", "king", "queen", "of", "and", "to", "my", "lord", "good", "night", "sweet", "prince",
                     "what", "is", "this", "that", "thou", "art", "thy", "love", "death", "be", "not", "so", "fair",
                     "heaven", "earth", "shall", "we", "go"]
        return wordSalad(words: words, characters: characters)
    }

    /// Writes the corpus under `directory` and prepares it into `directory/data`; returns that path.
    static func prepareDataset(in directory: URL, characters: Int = 40_000) throws -> String {
        let text = directory.appendingPathComponent("corpus.txt")
        try corpus(characters: characters).write(to: text, atomically: true, encoding: .utf8)
        let data = directory.appendingPathComponent("data").path
        let result = try runProduct("gpt-dist", ["prepare", "--input", text.path, "--out", data])
        guard result.status == 0 else {
            throw NSError(domain: "TrainTestData", code: 1, userInfo: [NSLocalizedDescriptionKey: "prepare failed: \(result.output)"])
        }
        return data
    }

    /// A tiny model and schedule that a debug build trains in a second or two.
    static func config(dataDir: String, outDir: String, extra: String = "") -> String {
        """
        data_dir: \(dataDir)
        out_dir: \(outDir)
        n_layer: 2
        n_head: 2
        n_embd: 32
        block_size: 16
        bias: true
        dropout: 0.1
        batch_size: 4
        gradient_accumulation_steps: 2
        max_iters: 20
        learning_rate: 1.0e-2
        min_lr: 1.0e-3
        warmup_iters: 3
        lr_decay_iters: 20
        beta2: 0.99
        weight_decay: 0.1
        grad_clip: 1.0
        eval_interval: 10
        eval_iters: 3
        log_interval: 1
        always_save_checkpoint: true
        seed: 1337
        threads: 1
        \(extra)
        """
    }

    /// Environment for training runs in tests: a fixed peak so no time goes into measuring it.
    static let environment = ["GPT_DIST_PEAK_FLOPS": "1e10"]

    /// One metrics.jsonl record.
    struct Record {
        var event: String
        var iter: Int
        var loss: Double
        var valLoss: Double?
    }

    static func metrics(_ outDir: String) throws -> [Record] {
        let text = try String(contentsOfFile: outDir + "/metrics.jsonl", encoding: .utf8)
        return try text.split(separator: "\n").map { line in
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
            return Record(event: object["event"] as! String, iter: (object["iter"] as! NSNumber).intValue,
                          loss: (object["loss"] as? NSNumber)?.doubleValue ?? .nan,
                          valLoss: (object["val_loss"] as? NSNumber)?.doubleValue)
        }
    }

    /// The train losses by iteration.
    static func stepLosses(_ outDir: String) throws -> [Int: Double] {
        var losses: [Int: Double] = [:]
        for r in try metrics(outDir) where r.event == "train" { losses[r.iter] = r.loss }
        return losses
    }
}

extension XCTestCase {
    /// Asserts two runs' step losses agree at every iteration within `relative` tolerance.
    func assertLossesAgree(_ a: [Int: Double], _ b: [Int: Double], iterations: Range<Int>, relative: Double,
                           file: StaticString = #filePath, line: UInt = #line) {
        for it in iterations {
            guard let x = a[it], let y = b[it] else {
                XCTFail("iteration \(it) missing: \(a[it] as Any) vs \(b[it] as Any)", file: file, line: line)
                continue
            }
            XCTAssertLessThanOrEqual(abs(x - y), relative * abs(y), "iteration \(it): \(x) vs \(y)", file: file, line: line)
        }
    }
}
