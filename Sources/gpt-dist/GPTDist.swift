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
            FileHandle.standardError.write(Data(("gpt-dist: this release build's kernels need AVX2 and FMA, which this CPU "
                + "lacks; rebuild for any x86-64 with: GPT_DIST_PORTABLE=1 swift build -c release\n").utf8))
            Foundation.exit(1)
        }
        #endif
        main(nil)
    }
}
