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
        Ctrl-C (or SIGTERM) finishes the current step, saves out_dir/ckpt.h5 and exits with
        status 1 (as mpirun does once signalled); a second one stops at once, abandoning a save
        in progress. Continue with --set init_from=resume.
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
        // Rank 0 and the last rank say when a signal arrives and at which iteration (one of them
        // survives whichever rank dies, and mpirun's SIGTERM reaches the survivors).
        let announces = rank == 0 || rank == communicator.size - 1
        let speaker = communicator.size > 1 ? "\(ErrorLine.command): rank \(rank) on \(StopRequest.shortHostName)" : ErrorLine.command
        StopRequest.install(speaker: announces ? speaker : nil)

        let trainer: Trainer
        do {
            // Open MPI gives ranks a pseudo-terminal even when mpirun's own output is a pipe or a
            // file, so under a launcher the progress is printed as plain lines.
            let progress = Progress(isTerminal: communicator.size > 1 || LaunchEnvironment.detect().isLaunchedInParallel ? false : nil)
            let reporter = rank == 0 ? try TrainReporter(outDirectory: settings.out_dir, progress: progress, quiet: quiet) : nil
            trainer = try Trainer(config: settings, sources: sources, communicator: communicator, reporter: reporter)
            trainer.errorPrefix = ErrorLine.prefix
            trainer.speaker = speaker
        } catch {
            try stop(after: error, communicator: communicator)
        }

        do {
            let outcome = try trainer.run()
            if rank == 0 {
                let best = outcome.bestValLoss < 1e9 ? String(format: "%.4f", outcome.bestValLoss) : "none"
                let skips = outcome.skippedSteps == 0 ? "" : ", \(outcome.skippedSteps) update\(outcome.skippedSteps == 1 ? "" : "s") skipped"
                print("\(outcome.interrupted ? "stopped" : "done"): \(outcome.iteration) iterations, best val loss \(best)\(skips), out_dir \(settings.out_dir)")
            }
            World.finalize()
            // Stopped by a signal: the status mpirun gives a signalled job, so it is the same alone.
            if outcome.interrupted { throw ExitCode(StopRequest.exitStatus) }
        } catch let code as ExitCode {
            throw code
        } catch {
            try stop(after: error, communicator: communicator)
        }
    }

    /// Reports `error` and ends this rank. An error every rank shares (`isCollective`) is printed
    /// by rank 0 and every rank finishes MPI normally; any other error may be this rank's alone
    /// while the others wait in a collective, so it is printed with the rank and the job aborted.
    private func stop(after error: Error, communicator: any Communicator) throws -> Never {
        let rank = communicator.rank, size = communicator.size
        if error.isCollective {
            if rank == 0 { printError(error) }
            World.finalize()
        } else {
            printError(error, rank: size > 1 ? rank : nil)
            if size > 1 { communicator.abort(code: 1) }
        }
        throw ExitCode.failure
    }
}
