import ArgumentParser

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
            Plot.self,
        ]
    )
}
