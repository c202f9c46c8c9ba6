import ArgumentParser
import Foundation
import GPT
import Parallel

/// `gpt-dist eval --checkpoint C --data DIR [--split val] [--json]`: the mean loss over every
/// non-overlapping block_size window of a split.
struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Mean loss of a checkpoint over every non-overlapping window of a dataset split.",
        discussion: "Deterministic: every window of block_size tokens (and its shifted targets) is evaluated once. Runs on every rank under mpirun, the windows shared out.")

    @Option(help: "The checkpoint (ckpt.h5).")
    var checkpoint: String

    @Option(help: "The dataset folder written by gpt-dist prepare.")
    var data: String

    @Option(help: "train or val.")
    var split = "val"

    @Option(parsing: .unconditional, help: "Windows per forward pass (default: the checkpoint's batch_size, else 12).")
    var batchSize: Int?

    @Option(parsing: .unconditional, help: "Compute threads per rank (0 = cores / ranks on this node).")
    var threads = 0

    @Flag(help: "Print the result as one JSON object.")
    var json = false

    func validate() throws {
        guard DataSplit(rawValue: split) != nil else {
            throw ValidationError("--split: expected \(DataSplit.allCases.map(\.rawValue).joined(separator: " or ")), got '\(split)'")
        }
        if let batchSize, batchSize < 1 { throw ValidationError("--batch-size: must be at least 1, got \(batchSize)") }
        if threads < 0 { throw ValidationError("--threads: must be 0 (cores / ranks) or more, got \(threads)") }
    }

    func run() throws {
        let which = DataSplit(rawValue: split)!
        let communicator = try World.communicator()
        defer { World.finalize() }
        do {
            let loader = try TokenLoader(directory: data)
            let (model, contents) = try Checkpoint.loadModel(
                path: checkpoint, threads: threads > 0 ? threads : threadsPerRank(localSize: communicator.localSize))
            _ = try Checkpoint.tokenizer(of: contents, path: checkpoint, dataset: loader.tokenizer, datasetPath: data)
            if model.config.vocabSize < loader.vocabularySize {
                throw CheckpointError.invalid(path: checkpoint, problem: "its vocabulary of \(model.config.vocabSize) is smaller than the \(loader.vocabularySize) tokens of \(data)")
            }
            var rows = batchSize ?? 12
            if batchSize == nil, case .int(let b)? = contents.settings["batch_size"], b > 0 { rows = b }
            let result = try SplitEvaluation.run(model: model, loader: loader, split: which, batchSize: rows,
                                                 communicator: communicator)
            guard communicator.rank == 0 else { return }
            if json {
                print(result.json)
            } else {
                print(String(format: "%@ loss %.4f (perplexity %.3f) over %d windows of %d tokens (%d tokens)",
                             result.split, result.loss, result.perplexity, result.windows, result.blockSize, result.tokens))
            }
        } catch {
            if communicator.rank == 0 { printError(error) }
            throw ExitCode.failure
        }
    }
}
