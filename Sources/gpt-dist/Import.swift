import ArgumentParser
import Foundation
import GPT

/// `gpt-dist import --from HF_DIR --out ckpt.h5`: a Hugging Face GPT-2 directory as a gpt-dist
/// checkpoint (to sample, evaluate or fine-tune with `init_from: ckpt.h5`).
struct Import: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Make a Hugging Face GPT-2 directory (config.json, model.safetensors, vocab.json, merges.txt) a gpt-dist checkpoint.",
        discussion: """
        nanoGPT's from_pretrained mapping: the Conv1D weights are transposed, the attn.bias mask
        buffers skipped, lm_head tied to wte; the vocabulary is kept as config.json says (50257
        for OpenAI's GPT-2). vocab.json + merges.txt (or tokenizer.json) become the checkpoint's
        tokenizer. train can also start from the directory itself: --set init_from=HF_DIR.
        """)

    @Option(name: .customLong("from"), help: "The Hugging Face model directory.")
    var source: String

    @Option(help: "The checkpoint to write (ckpt.h5).")
    var out: String

    @Option(parsing: .unconditional, help: "Dropout of the checkpoint's model (default: config.json's resid/embd/attn_pdrop).")
    var dropout: Double?

    func run() throws {
        if let dropout, !(dropout >= 0 && dropout < 1) {
            printError(CommandError("--dropout: must be in [0, 1), got \(dropout)"))
            throw ExitCode.failure
        }
        do {
            let start = Date()
            let imported = try HuggingFaceImport.write(directory: source, dropout: dropout, to: out)
            for note in imported.notes { print("note: \(note)") }
            let m = imported.modelConfig
            let tokenizer = imported.tokenizer.map { "\($0.kind.rawValue) tokenizer of \($0.vocabularySize) tokens" } ?? "no tokenizer"
            print(String(format: "imported %@: %.2fM parameters (%d layers, %d heads, %d embd, block %d, vocab %d, dropout %g), %@ -> %@ (%.2f s)",
                         source, Double(m.parameterCount()) / 1e6, m.nLayer, m.nHead, m.nEmbd, m.blockSize, m.vocabSize,
                         m.dropout, tokenizer, out, Date().timeIntervalSince(start)))
        } catch {
            printError(error)
            throw ExitCode.failure
        }
    }
}
