import ArgumentParser
import Foundation
import GPT

/// `gpt-dist export --checkpoint ckpt.h5 --format huggingface --out DIR`: a checkpoint as a
/// directory that transformers' `GPT2LMHeadModel.from_pretrained(DIR)` loads.
struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a checkpoint as a Hugging Face GPT-2 directory (config.json, model.safetensors, tokenizer files).",
        discussion: """
        model.safetensors has GPT2LMHeadModel's names and Conv1D layout in float32; a BPE
        tokenizer is written as vocab.json, merges.txt and tokenizer.json (AutoTokenizer loads
        it). A character-level tokenizer is not a Hugging Face one: its vocabulary is written as
        char_vocab.json beside the model. LoRA adapters are merged into the weights
        (W + scale·B·A); with --adapters-only they are written alone as PEFT's
        adapter_model.safetensors + adapter_config.json. See docs/checkpoint-format.md.
        """)

    static let formats = ["huggingface"]

    @Option(help: "The checkpoint (ckpt.h5).")
    var checkpoint: String

    @Option(help: "The format to write: huggingface.")
    var format = "huggingface"

    @Option(help: "The directory to write (created if missing).")
    var out: String

    @Flag(help: "Replace files already in the directory.")
    var force = false

    @Flag(name: .customLong("adapters-only"), help: "Write only the checkpoint's LoRA adapters, as PEFT's adapter_model.safetensors and adapter_config.json.")
    var adaptersOnly = false

    func run() throws {
        guard Self.formats.contains(format) else {
            printError(CommandError("--format: expected \(Self.formats.joined(separator: ", ")), got '\(format)'"))
            throw ExitCode.failure
        }
        do {
            let start = Date()
            if adaptersOnly {
                let contents = try Checkpoint.read(path: checkpoint)
                let notes = try PEFTExport.write(contents, to: out, overwrite: force, checkpointPath: checkpoint)
                for note in notes { print("note: \(note)") }
                let lora = contents.lora!
                print(String(format: "exported the LoRA adapters of %@: rank %d on %@, %d parameters -> %@ (%.2f s)",
                             checkpoint, lora.config.rank, lora.config.targetList,
                             LoRALayout(config: contents.modelConfig, lora: lora.config).tensors.reduce(0) { $0 + $1.count },
                             out, Date().timeIntervalSince(start)))
                return
            }
            let (m, notes) = try HuggingFaceExport.write(checkpointAt: checkpoint, to: out, overwrite: force)
            for note in notes { print("note: \(note)") }
            print(String(format: "exported %@: %.2fM parameters (%d layers, %d heads, %d embd, block %d, vocab %d) -> %@ (%.2f s)",
                         checkpoint, Double(m.parameterCount()) / 1e6, m.nLayer, m.nHead, m.nEmbd, m.blockSize, m.vocabSize,
                         out, Date().timeIntervalSince(start)))
        } catch {
            printError(error)
            throw ExitCode.failure
        }
    }
}
