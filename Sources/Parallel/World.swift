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
/// `cores / localSize`, but no more than the cores this process may run on (a launcher that binds
/// each rank to one core leaves it one), and at least 1.
public func threadsPerRank(localSize: Int,
                           cores: Int = ProcessInfo.processInfo.activeProcessorCount,
                           allowedCores: Int? = allowedCoreCount()) -> Int {
    let share = cores / Swift.max(1, localSize)
    return Swift.max(1, Swift.min(share, allowedCores ?? share))
}

/// The number of cores this process may run on (its CPU affinity, which `mpirun`/`srun` narrow
/// when they bind ranks), or nil where that cannot be read (not Linux).
public func allowedCoreCount() -> Int? {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return nil }
    return allowedCoreCount(procStatus: status)
}

/// Counts the bits of the `Cpus_allowed:` mask (comma-separated hex words) in /proc/<pid>/status text.
func allowedCoreCount(procStatus: String) -> Int? {
    guard let line = procStatus.split(separator: "\n").first(where: { $0.hasPrefix("Cpus_allowed:") }) else { return nil }
    let mask = line.dropFirst("Cpus_allowed:".count).trimmingCharacters(in: .whitespaces)
    var count = 0
    for word in mask.split(separator: ",") {
        guard let bits = UInt64(word, radix: 16) else { return nil }
        count += bits.nonzeroBitCount
    }
    return count > 0 ? count : nil
}
