import Foundation

/// How this process was started, read from the environment the launcher leaves behind. The
/// world communicator uses MPI only when a launcher is detected, so a plain run never starts MPI.
public struct LaunchEnvironment: Sendable {
    /// The program that started this process.
    public enum Launcher: String, Sendable {
        /// Started directly (a shell, a test, a debugger): one rank, no MPI.
        case none
        /// Started by `mpirun`/`mpiexec` (Open MPI's `OMPI_*`, PMIx's `PMIX_*`, or Hydra's `PMI_*`).
        case mpirun
        /// Started by Slurm's `srun` (a job step with a task id).
        case srun
    }

    /// Who started this process.
    public let launcher: Launcher
    /// The launcher variables that were set, sorted by name, for reports.
    public let variables: [(name: String, value: String)]
    /// The rank the launcher announced, if any.
    public let rank: Int?
    /// The number of ranks the launcher announced, if any.
    public let size: Int?
    /// This process's rank on its node as the launcher announced it, if any.
    public let localRank: Int?
    /// The number of ranks on this node as the launcher announced it, if any.
    public let localSize: Int?

    /// True when the process is one rank of a parallel launch (and so must use MPI).
    public var isLaunchedInParallel: Bool { launcher != .none }

    /// The variables `detect` looks at (and reports when set).
    public static let variableNames: [String] = [
        "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK",
        "OMPI_COMM_WORLD_LOCAL_SIZE", "OMPI_COMM_WORLD_NODE_RANK",
        "PMIX_RANK", "PMIX_NAMESPACE",
        "PMI_RANK", "PMI_SIZE", "PMI_LOCAL_RANK", "PMI_LOCAL_SIZE", "MPI_LOCALRANKID", "MPI_LOCALNRANKS",
        "SLURM_JOB_ID", "SLURM_STEP_ID", "SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID",
        "SLURM_STEP_NUM_TASKS", "SLURM_NNODES", "SLURM_CPUS_PER_TASK",
    ]

    /// Reads the launcher from `environment` (the process's own by default).
    ///
    /// `srun` is recognised by `SLURM_STEP_ID` together with `SLURM_PROCID` (a batch script alone
    /// is not a parallel launch); `mpirun` by `OMPI_COMM_WORLD_SIZE`, `PMIX_RANK`, or
    /// `PMI_RANK` with `PMI_SIZE`.
    public static func detect(_ environment: [String: String] = ProcessInfo.processInfo.environment) -> LaunchEnvironment {
        func int(_ name: String) -> Int? { environment[name].flatMap { Int($0.trimmingCharacters(in: .whitespaces)) } }
        func firstInt(_ names: [String]) -> Int? { names.lazy.compactMap(int).first }

        let launcher: Launcher
        if environment["SLURM_STEP_ID"] != nil && environment["SLURM_PROCID"] != nil {
            launcher = .srun
        } else if environment["OMPI_COMM_WORLD_SIZE"] != nil || environment["PMIX_RANK"] != nil
                    || (environment["PMI_RANK"] != nil && environment["PMI_SIZE"] != nil) {
            launcher = .mpirun
        } else {
            launcher = .none
        }
        let present = variableNames.compactMap { name in environment[name].map { (name: name, value: $0) } }
        return LaunchEnvironment(
            launcher: launcher,
            variables: present,
            rank: firstInt(["OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK", "SLURM_PROCID"]),
            size: firstInt(["OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "SLURM_STEP_NUM_TASKS", "SLURM_NTASKS"]),
            localRank: firstInt(["OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID", "PMI_LOCAL_RANK", "SLURM_LOCALID"]),
            localSize: firstInt(["OMPI_COMM_WORLD_LOCAL_SIZE", "MPI_LOCALNRANKS", "PMI_LOCAL_SIZE"]))
    }
}
