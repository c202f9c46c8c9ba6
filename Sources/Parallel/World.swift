import Foundation

/// The process-wide communicator, chosen from how the process was started.
public enum World {
    private static let lock = NSLock()
    private static var shared: (any Communicator)?

    /// The world communicator: over MPI when the process was started by `mpirun`/`srun`
    /// (see `LaunchEnvironment.detect`), otherwise a `LocalCommunicator` and MPI is never started.
    /// The first call decides and starts MPI if needed; later calls return the same communicator.
    public static func communicator() throws -> any Communicator {
        lock.lock()
        defer { lock.unlock() }
        if let shared { return shared }
        let made: any Communicator = LaunchEnvironment.detect().isLaunchedInParallel
            ? try MPICommunicator() : LocalCommunicator()
        shared = made
        return made
    }

    /// Finishes MPI if it was started (every rank must call it); also runs at exit. Safe to call
    /// more than once; no collective may be called afterwards.
    public static func finalize() {
        MPIRuntime.finalize()
    }
}

/// Threads each rank should use so the ranks on one node together use its cores once:
/// `cores / localSize`, at least 1.
public func threadsPerRank(localSize: Int, cores: Int = ProcessInfo.processInfo.activeProcessorCount) -> Int {
    Swift.max(1, cores / Swift.max(1, localSize))
}
