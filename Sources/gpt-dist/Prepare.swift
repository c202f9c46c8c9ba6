import ArgumentParser
import Foundation
import GPT

/// `gpt-dist prepare`: text files → a folder of tokenized HDF5 shards (docs/dataset-format.md).
struct Prepare: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Tokenize text files into HDF5 shards (train_NNNNNN.h5, val_NNNNNN.h5, meta.h5) for training.",
        discussion: """
            A folder input means every regular, non-hidden file directly inside it, sorted by name. \
            The val split is the last --val-fraction of the token stream (nanoGPT's split). \
            The output folder must not exist or be empty.
            """)

    @Option(name: .customLong("input"), help: "A text file or a folder of them (repeatable; order kept).")
    var inputs: [String] = []

    @Option(name: .customLong("out"), help: "Output folder (must not exist, or be empty).")
    var output: String

    @Option(help: "Tokenizer: char (the corpus's sorted character set) or bpe (GPT-2 byte-level BPE).")
    var tokenizer: String = "char"

    @Option(help: "BPE vocabulary: encoder.json or vocab.json (with --tokenizer bpe).")
    var vocab: String?

    @Option(help: "BPE merges: vocab.bpe or merges.txt (with --tokenizer bpe).")
    var merges: String?

    @Option(help: "Fraction of the token stream, taken from its end, that becomes the val split.")
    var valFraction: Double = 0.1

    @Option(help: "Most tokens per shard file.")
    var shardTokens: Int = 100_000_000

    @Option(help: "Refuse a split shorter than one window of this block size (block_size + 1 tokens); the trainer checks again.")
    var blockSize: Int?

    @Option(help: "Threads encoding text chunks in parallel.")
    var workers: Int = 1

    func run() throws {
        do {
            try prepare()
        } catch {
            // One line naming the file and the problem, then a non-zero exit.
            FileHandle.standardError.write(Data("gpt-dist prepare: error: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }

    private func prepare() throws {
        guard !inputs.isEmpty else { throw DataError.invalidOption("give at least one --input FILE or FOLDER") }
        var options = PrepareOptions(inputs: inputs, output: output)
        options.valFraction = valFraction
        options.shardTokens = shardTokens
        options.workers = workers
        options.blockSize = blockSize
        let given: (any Tokenizer)?
        switch TokenizerKind(rawValue: tokenizer) {
        case .character?:
            guard vocab == nil, merges == nil else {
                throw DataError.invalidOption("--vocab and --merges are for --tokenizer bpe")
            }
            given = nil
        case .bpe?:
            given = try loadBPE()
        case nil:
            throw DataError.invalidOption("--tokenizer must be char or bpe; got \(tokenizer)")
        }
        let bar = ProgressBar()
        let summary = try DatasetPreparer.prepare(options, tokenizer: given, progress: bar.update)
        bar.finish()
        print("prepared \(output): \(summary.tokenizerKind.rawValue) tokenizer, vocabulary \(summary.vocabularySize), "
              + "\(summary.trainTokens) train and \(summary.valTokens) val tokens (\(summary.width.rawValue)) "
              + "in \(summary.shardFiles.count) shards from \(summary.files.count) file(s)")
    }

    private func loadBPE() throws -> any Tokenizer {
        guard let vocab, let merges else {
            throw DataError.invalidOption("--tokenizer bpe needs --vocab FILE and --merges FILE")
        }
        return try BPETokenizer.load(vocabularyFile: URL(fileURLWithPath: vocab), mergesFile: URL(fileURLWithPath: merges))
    }
}

/// A one-line progress bar on stderr, drawn only when stderr is a terminal.
final class ProgressBar {
    private let enabled = isatty(STDERR_FILENO) == 1
    private var lastDraw = Date.distantPast
    private var drawn = false

    func update(_ progress: PrepareProgress) {
        guard enabled, progress.total > 0 else { return }
        let now = Date()
        guard now.timeIntervalSince(lastDraw) > 0.1 || progress.done == progress.total else { return }
        lastDraw = now
        let fraction = min(1, Double(progress.done) / Double(progress.total))
        let width = 30
        let filled = Int(fraction * Double(width))
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        let label = progress.phase.rawValue.padding(toLength: 10, withPad: " ", startingAt: 0)
        FileHandle.standardError.write(Data("\r\(label) [\(bar)] \(Int(fraction * 100))%".utf8))
        drawn = true
    }

    func finish() {
        if drawn { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
    }
}
