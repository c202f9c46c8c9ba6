import ArgumentParser
import Foundation
import GPT
import Parallel

/// `gpt-dist train --config FILE [--set key=value]...`: trains a GPT, alone or as every rank of
/// an mpirun/srun job.
struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a GPT from a YAML config (nanoGPT key names); run under mpirun for data parallelism.",
        discussion: """
        Settings are nanoGPT's train.py keys (see configs/). gradient_accumulation_steps counts
        micro-steps over all ranks, as in nanoGPT, and must be a multiple of the rank count.
        Ctrl-C finishes the current step, saves out_dir/ckpt.h5 and exits; continue with
        --set init_from=resume.
        """)

    @Option(help: "The YAML config (see configs/).")
    var config: String

    @Option(name: .customLong("set"), help: ArgumentHelp("Override one setting, e.g. --set max_iters=100 (repeatable).", valueName: "key=value"))
    var overrides: [String] = []

    @Flag(help: "Print the resolved settings and exit without training.")
    var printConfig = false

    @Flag(help: "Print only eval lines and errors (no progress line).")
    var quiet = false

    func run() throws {
        let settings: TrainConfig
        let sources: ConfigSources
        do {
            (settings, sources) = try TrainConfig.load(file: config, overrides: overrides)
        } catch {
            // Every rank reads the same file: let rank 0 alone say what is wrong.
            if LaunchEnvironment.detect().rank ?? 0 == 0 { printError(error) }
            throw ExitCode.failure
        }
        if printConfig {
            for (name, value) in settings.allValues { print("\(name): \(value)") }
            return
        }
        let communicator = try World.communicator()
        let rank = communicator.rank
        StopRequest.install(announce: rank == 0)

        // Setup fails the same way on every rank (same files, and rank 0's checkpoint problems
        // are broadcast), so rank 0 reports and every rank exits normally.
        let trainer: Trainer
        do {
            // Open MPI gives ranks a pseudo-terminal even when mpirun's own output is a pipe or a
            // file, so under a launcher the progress is printed as plain lines.
            let progress = Progress(isTerminal: communicator.size > 1 || LaunchEnvironment.detect().isLaunchedInParallel ? false : nil)
            let reporter = rank == 0 ? try TrainReporter(outDirectory: settings.out_dir, progress: progress, quiet: quiet) : nil
            trainer = try Trainer(config: settings, sources: sources, communicator: communicator, reporter: reporter)
        } catch {
            // Config problems and rank 0's broadcast failures are reported by rank 0; anything
            // else may be this rank's own (a dataset another node cannot read), so it says so.
            if rank == 0 {
                printError(error)
            } else if !(error is TrainConfigError), !isPeerFailure(error) {
                printError(error, rank: rank)
            }
            World.finalize()
            throw ExitCode.failure
        }

        do {
            let outcome = try trainer.run()
            if rank == 0 {
                let best = outcome.bestValLoss < 1e9 ? String(format: "%.4f", outcome.bestValLoss) : "none"
                print("\(outcome.interrupted ? "stopped" : "done"): \(outcome.iteration) iterations, best val loss \(best), out_dir \(settings.out_dir)")
            }
            World.finalize()
        } catch {
            // Mid-run failures may be one rank's own; the others could be waiting in a collective.
            if !isPeerFailure(error) { printError(error, rank: communicator.size > 1 ? rank : nil) }
            if communicator.size > 1 { communicator.abort(code: 1) }
            throw ExitCode.failure
        }
    }
}

/// Prints `error` as ArgumentParser does (one `Error:` line on standard error).
func printError(_ error: Error, rank: Int? = nil) {
    let prefix = rank.map { "Error: rank \($0): " } ?? "Error: "
    let text = "\(error)".split(separator: "\n").first.map(String.init) ?? "\(error)"
    FileHandle.standardError.write(Data((prefix + text + "\n").utf8))
}

/// A command-line mistake found while running (after argument parsing), printed as one line.
struct CommandError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// True for the error a rank throws when rank 0 failed at something they did together (rank 0
/// reports the cause).
func isPeerFailure(_ error: Error) -> Bool {
    if case TrainError.peerFailed = error { return true }
    return false
}
