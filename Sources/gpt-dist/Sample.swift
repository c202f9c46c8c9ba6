import ArgumentParser
import Foundation
import GPT

/// `gpt-dist sample --checkpoint C ...`: generates text from a checkpoint through the KV cache,
/// streaming it as it comes (nanoGPT's sample.py).
struct Sample: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Generate text from a checkpoint (streams through the KV cache).",
        discussion: "Defaults are nanoGPT's sample.py: 10 samples of 500 tokens, temperature 0.8, top_k 200, seed 1337, starting from a newline.")

    @Option(help: "The checkpoint (ckpt.h5).")
    var checkpoint: String

    @Option(help: "Text to start from (default: a newline).")
    var prompt: String?

    @Option(help: "Read the prompt from this file.")
    var promptFile: String?

    @Option(help: "Take the tokenizer from this dataset folder (for checkpoints without /tokenizer).")
    var data: String?

    @Option(parsing: .unconditional, help: "How many samples.")
    var numSamples = 10

    @Option(parsing: .unconditional, help: "Tokens to generate per sample.")
    var maxNewTokens = 500

    @Option(parsing: .unconditional, help: "Softmax temperature; 0 = greedy.")
    var temperature: Float = 0.8

    @Option(parsing: .unconditional, help: "Keep only the k most likely tokens (0 = off).")
    var topK = 200

    @Option(parsing: .unconditional, help: "Nucleus sampling: keep the most likely tokens until their probability reaches p (1 = off).")
    var topP: Float = 1

    @Option(parsing: .unconditional, help: "Random seed.")
    var seed: UInt64 = 1337

    @Option(parsing: .unconditional, help: "Compute threads (0 = every core).")
    var threads = 0

    func validate() throws {
        if prompt != nil && promptFile != nil { throw ValidationError("give --prompt or --prompt-file, not both") }
        if numSamples < 1 { throw ValidationError("--num-samples: must be at least 1, got \(numSamples)") }
        if maxNewTokens < 1 { throw ValidationError("--max-new-tokens: must be at least 1, got \(maxNewTokens)") }
        if !(temperature >= 0 && temperature.isFinite) { throw ValidationError("--temperature: must be 0 (greedy) or more, got \(temperature)") }
        if topK < 0 { throw ValidationError("--top-k: must be >= 0 (0 = off), got \(topK)") }
        if !(topP > 0 && topP <= 1) { throw ValidationError("--top-p: must be in (0, 1], got \(topP)") }
        if threads < 0 { throw ValidationError("--threads: must be 0 (every core) or more, got \(threads)") }
    }

    func run() throws {
        do {
            let (model, contents) = try Checkpoint.loadModel(path: checkpoint, threads: threads)
            let datasetTokenizer = try data.map { try TokenLoader(directory: $0).tokenizer }
            let tokenizer = try Checkpoint.tokenizer(of: contents, path: checkpoint, dataset: datasetTokenizer, datasetPath: data)
            let text: String
            if let promptFile {
                guard let contents = FileManager.default.contents(atPath: promptFile) else {
                    throw CommandError("--prompt-file \(promptFile): cannot read the file")
                }
                guard let decoded = String(data: contents, encoding: .utf8) else {
                    throw CommandError("--prompt-file \(promptFile): not UTF-8 text")
                }
                text = decoded
            } else {
                text = prompt ?? "\n"
            }
            guard !text.isEmpty else { throw CommandError("the prompt is empty") }
            let promptTokens: [Int32]
            do { promptTokens = try tokenizer.encode(text) } catch { throw CommandError("prompt: \(error)") }
            let options = SamplingOptions(temperature: temperature, topK: topK > 0 ? min(topK, model.config.vocabSize) : nil,
                                          topP: topP < 1 ? topP : nil)
            let generator = Generator(model: model)
            var rng = RandomGenerator(seed: seed)
            let out = FileHandle.standardOutput
            for _ in 0..<numSamples {
                out.write(Data(text.utf8))
                var produced: [Int32] = []
                var printed = 0  // Unicode scalars of the decoded text already written
                try generator.generate(prompt: promptTokens, maxNewTokens: maxNewTokens, options: options, rng: &rng) { token in
                    produced.append(token)
                    let decoded = tokenizer.decode(produced)
                    // Hold back a character whose bytes are not all generated yet.
                    if decoded.unicodeScalars.last == "\u{FFFD}" { return true }
                    let scalars = decoded.unicodeScalars
                    if scalars.count > printed {
                        var piece = String.UnicodeScalarView()
                        piece.append(contentsOf: scalars.dropFirst(printed))
                        out.write(Data(String(piece).utf8))
                        printed = scalars.count
                    }
                    return true
                }
                let decoded = tokenizer.decode(produced).unicodeScalars
                if decoded.count > printed {
                    var piece = String.UnicodeScalarView()
                    piece.append(contentsOf: decoded.dropFirst(printed))
                    out.write(Data(String(piece).utf8))
                }
                out.write(Data("\n---------------\n".utf8))
            }
        } catch {
            printError(error)
            throw ExitCode.failure
        }
    }
}
