import ArgumentParser
import CBLAS
import Foundation

/// The `gpt-dist` command: nanoGPT's workflow (prepare, train, sample) as one binary that runs
/// alone on a laptop or as every rank of an `mpirun`/`srun` job.
@main
struct GPTDist: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gpt-dist",
        abstract: "nanoGPT in Swift: a data-parallel GPT trainer over MPI, with HDF5 datasets and checkpoints.",
        subcommands: [
            Doctor.self,
            Bench.self,
            Prepare.self,
            TokenizerCommand.self,
            Train.self,
            Eval.self,
            Sample.self,
            ServeCommand.self,
            Plot.self,
            Import.self,
            Export.self,
        ]
    )

    /// Runs the command once this CPU is known to run what the GPT module was compiled for.
    static func main() {
        #if GPT_DIST_HASWELL
        guard gptdist_cpu_supports_haswell() != 0 else {
            FileHandle.standardError.write(Data(("gpt-dist: error: this release build's kernels need AVX2 and FMA, which this CPU "
                + "lacks; rebuild for any x86-64 with: GPT_DIST_PORTABLE=1 swift build -c release\n").utf8))
            Foundation.exit(1)
        }
        #endif
        let arguments = Array(CommandLine.arguments.dropFirst())
        ErrorLine.command = ErrorLine.commandPath(for: arguments, root: Self.self)
        do {
            var command = try parseAsRoot(arguments)
            try command.run()
        } catch {
            exit(reporting: error)
        }
    }

    /// Ends the process for `error` in the one error style: help and version requests print as
    /// ArgumentParser prints them (status 0); an `ExitCode` thrown by a command that already
    /// printed its line exits with it; anything else (a parse or validation error included)
    /// becomes one `gpt-dist <command>: error: ...` line and ArgumentParser's status for it
    /// (64 for a usage mistake, 1 otherwise).
    static func exit(reporting error: Error) -> Never {
        let code = exitCode(for: error)
        if error is ExitCode || code.isSuccess { exit(withError: error) }
        ErrorLine.write(message(for: error))
        Foundation.exit(code.rawValue)
    }
}
