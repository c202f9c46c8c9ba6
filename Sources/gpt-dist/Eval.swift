import ArgumentParser
import Foundation
import GPT

/// `gpt-dist eval --checkpoint C --data DIR [--split val] [--json]`: the mean loss over every
/// non-overlapping block_size window of a split.
struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Mean loss of a checkpoint over every non-overlapping window of a dataset split.")

    @Option(help: "The checkpoint (ckpt.h5).")
    var checkpoint: String

    @Option(help: "The dataset folder written by gpt-dist prepare.")
    var data: String

    @Option(help: "train or val.")
    var split = "val"

    @Flag(help: "Print the result as one JSON object.")
    var json = false

    func run() throws { throw ValidationError("eval is not built yet") }
}
