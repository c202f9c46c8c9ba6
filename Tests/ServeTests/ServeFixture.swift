import Foundation
import TestSupport

/// A tiny character-level checkpoint trained once per test process (two iterations: seconds in a
/// debug build): 2 layers, 2 heads, 32 wide, context 64, over word salad of a few Shakespeare words.
enum ServeFixture {
    /// The checkpoint's path, or why it could not be made.
    static let checkpoint: Result<String, Error> = Result { try makeCheckpoint() }
    /// The model's context.
    static let blockSize = 64

    /// Deterministic text over a small vocabulary (lower- and upper-case letters of the words,
    /// space, punctuation, newline; no 'Z' and no '#').
    static func corpus(characters: Int = 30_000) -> String {
        let words = ["the", "king", "queen", "of", "and", "to", "my", "lord", "good", "night", "sweet", "prince",
                     "what", "is", "this", "that", "thou", "art", "thy", "love", "death", "be", "not", "so", "fair"]
        return wordSalad(words: words, characters: characters)
    }

    private static func makeCheckpoint() throws -> String {
        let dir = try makeTemporaryDirectory("gpt-dist-serve-test")
        let text = dir.appendingPathComponent("corpus.txt")
        try corpus().write(to: text, atomically: true, encoding: .utf8)
        let data = dir.appendingPathComponent("data").path, out = dir.appendingPathComponent("out").path
        let prepared = try runProduct("gpt-dist", ["prepare", "--input", text.path, "--out", data])
        guard prepared.status == 0 else { throw FixtureError("prepare failed: \(prepared.output)") }
        let config = dir.appendingPathComponent("tiny.yaml")
        try """
        data_dir: \(data)
        out_dir: \(out)
        n_layer: 2
        n_head: 2
        n_embd: 32
        block_size: \(blockSize)
        bias: true
        dropout: 0.0
        batch_size: 2
        gradient_accumulation_steps: 1
        max_iters: 2
        learning_rate: 1.0e-2
        min_lr: 1.0e-3
        warmup_iters: 1
        lr_decay_iters: 2
        eval_interval: 2
        eval_iters: 1
        log_interval: 1
        always_save_checkpoint: true
        seed: 1337
        threads: 1
        """.write(to: config, atomically: true, encoding: .utf8)
        let trained = try runProduct("gpt-dist", ["train", "--config", config.path], environment: ["GPT_DIST_PEAK_FLOPS": "1e10"])
        guard trained.status == 0 else { throw FixtureError("train failed: \(trained.output)") }
        return out + "/ckpt.h5"
    }
}

struct FixtureError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
