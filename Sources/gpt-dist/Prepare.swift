import ArgumentParser
import Foundation
import GPT
import Parallel

/// `gpt-dist prepare`: text files → a folder of tokenized HDF5 shards (docs/dataset-format.md),
/// alone or as every rank of an `mpirun` job (each rank encodes a share of the corpus; the dataset
/// is the one a single process makes).
struct Prepare: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Tokenize text files into HDF5 shards (train_NNNNNN.h5, val_NNNNNN.h5, meta.h5) for training.",
        discussion: """
            A folder input means every regular, non-hidden file directly inside it, sorted by name. \
            The val split is the last --val-fraction of the token stream (nanoGPT's split). \
            The output folder must not exist or be empty. Under mpirun every rank encodes a share \
            of the corpus (the output folder must be on a file system they share); the dataset is \
            the one a single process makes.
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

    @Option(parsing: .unconditional, help: "Fraction of the token stream, taken from its end, that becomes the val split.")
    var valFraction: Double = 0.1

    @Option(parsing: .unconditional, help: "Most tokens per shard file.")
    var shardTokens: Int = 100_000_000

    @Option(parsing: .unconditional, help: "Refuse a split shorter than one window of this block size (block_size + 1 tokens); the trainer checks again.")
    var blockSize: Int?

    @Option(parsing: .unconditional, help: "Threads encoding text chunks in parallel (on each rank).")
    var workers: Int = 1

    @Option(name: .customLong("invalid-utf8"),
            help: "Bytes that are not UTF-8: error (stop, naming the file and offset) or replace (with U+FFFD, as Python's errors='replace').")
    var invalidUTF8: String = "error"

    func run() throws {
        let communicator: any Communicator
        do {
            communicator = try World.communicator()
        } catch {
            report(error)
            throw ExitCode(1)
        }
        let rank = communicator.rank
        let steps = RankAgreement(communicator)
        do {
            try prepare(steps)
            World.finalize()
        } catch {
            if steps.isAgreed(error) {
                // Every rank stops here with the same error: rank 0 says it once.
                if rank == 0 { report(error) }
                World.finalize()
                throw ExitCode(1)
            }
            // This rank's alone (a failed collective): the others may wait for it in vain.
            report(error, rank: rank)
            communicator.abort(code: 1)
        }
    }

    /// One line naming the file and the problem, on standard error.
    private func report(_ error: Error, rank: Int? = nil) {
        printError(error, rank: rank)
    }

    private func prepare(_ steps: RankAgreement) throws {
        let communicator = steps.communicator
        let (options, given) = try steps.run { try resolveOptions() }
        // Ranks under a launcher get a pseudo-terminal even when mpirun's output is a file: draw
        // progress only when running alone.
        let alone = communicator.size == 1 && !LaunchEnvironment.detect().isLaunchedInParallel
        let bar = alone ? ProgressBar() : nil
        let summary = try DatasetPreparer.prepare(options, tokenizer: given, communicator: communicator,
                                                  progress: bar?.update)
        bar?.finish()
        guard communicator.rank == 0 else { return }
        print("prepared \(output): \(summary.tokenizerKind.rawValue) tokenizer, vocabulary \(summary.vocabularySize), "
              + "\(summary.trainTokens) train and \(summary.valTokens) val tokens (\(summary.width.rawValue)) "
              + "in \(summary.shardFiles.count) shards from \(summary.files.count) file(s)"
              + (communicator.size > 1 ? " by \(communicator.size) ranks" : ""))
        if options.invalidUTF8 == .replace {
            print("invalid UTF-8: \(summary.replacements) ill-formed byte sequence(s) replaced with U+FFFD")
        }
    }

    /// The options, checked, and the BPE tokenizer when one is asked for.
    private func resolveOptions() throws -> (PrepareOptions, (any Tokenizer)?) {
        guard !inputs.isEmpty else { throw DataError.invalidOption("give at least one --input FILE or FOLDER") }
        var options = PrepareOptions(inputs: inputs, output: output)
        options.valFraction = valFraction
        options.shardTokens = shardTokens
        options.workers = workers
        options.blockSize = blockSize
        guard let policy = InvalidUTF8Policy(rawValue: invalidUTF8) else {
            throw DataError.invalidOption("--invalid-utf8 must be error or replace; got \(invalidUTF8)")
        }
        options.invalidUTF8 = policy
        switch TokenizerKind(rawValue: tokenizer) {
        case .character?:
            guard vocab == nil, merges == nil else {
                throw DataError.invalidOption("--vocab and --merges are for --tokenizer bpe")
            }
            return (options, nil)
        case .bpe?:
            return (options, try loadBPE())
        case nil:
            throw DataError.invalidOption("--tokenizer must be char or bpe; got \(tokenizer)")
        }
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
