import ArgumentParser
import Foundation
import GPT

/// `gpt-dist train --config FILE [--set key=value]...`: trains a GPT, alone or as every rank of
/// an mpirun/srun job.
struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a GPT from a YAML config (nanoGPT key names); run under mpirun for data parallelism.")

    @Option(help: "The YAML config (see configs/).")
    var config: String

    @Option(name: .customLong("set"), help: ArgumentHelp("Override one setting, e.g. --set max_iters=100 (repeatable).", valueName: "key=value"))
    var overrides: [String] = []

    @Flag(help: "Print the resolved settings and exit without training.")
    var printConfig = false

    func run() throws {
        let (settings, sources) = try TrainConfig.load(file: config, overrides: overrides)
        if printConfig {
            for (name, value) in settings.allValues { print("\(name): \(value)") }
            return
        }
        _ = sources
        throw ValidationError("training is not built yet")
    }
}
