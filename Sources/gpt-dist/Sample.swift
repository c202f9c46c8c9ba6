import ArgumentParser
import Foundation
import GPT

/// `gpt-dist sample --checkpoint C ...`: generates text from a checkpoint through the KV cache,
/// streaming it as it comes.
struct Sample: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Generate text from a checkpoint (streams through the KV cache).")

    @Option(help: "The checkpoint (ckpt.h5).")
    var checkpoint: String

    @Option(help: "Text to start from (default: a newline).")
    var prompt: String?

    @Option(help: "Read the prompt from this file.")
    var promptFile: String?

    @Option(help: "How many samples.")
    var numSamples = 1

    @Option(help: "Tokens to generate per sample.")
    var maxNewTokens = 500

    @Option(help: "Softmax temperature; 0 = greedy.")
    var temperature = 0.8

    @Option(help: "Keep only the k most likely tokens (0 = off).")
    var topK = 200

    @Option(help: "Nucleus sampling: keep the smallest set of tokens whose probability reaches p (1 = off).")
    var topP = 1.0

    @Option(help: "Random seed.")
    var seed = 1337

    func run() throws { throw ValidationError("sample is not built yet") }
}
