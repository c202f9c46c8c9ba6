import Foundation

/// Ctrl-C (SIGINT) and SIGTERM (what mpirun and Slurm send to stop a job) during training: the
/// first one asks the trainer to finish its step, save a checkpoint and exit cleanly; a second
/// one ends the process at once.
public enum StopRequest {
    /// True once a stop signal arrived.
    public static var isRequested: Bool { stopFlag.pointee != 0 }

    /// Clears the request (tests, or a second run in one process).
    public static func reset() { stopFlag.pointee = 0 }

    /// Asks for a stop as a signal would (tests).
    public static func request() { stopFlag.pointee = 1 }

    /// Installs the handlers for SIGINT and SIGTERM. `announce` says whether to print a notice
    /// (only rank 0 does).
    public static func install(announce: Bool) {
        _ = stopFlag  // initialise the global outside the handler
        announceOnSignal = announce ? 1 : 0
        signal(SIGINT, handleStopSignal)
        signal(SIGTERM, handleStopSignal)
    }
}

/// Set by the signal handler; read once per optimizer step.
private let stopFlag: UnsafeMutablePointer<sig_atomic_t> = {
    let p = UnsafeMutablePointer<sig_atomic_t>.allocate(capacity: 1)
    p.pointee = 0
    return p
}()

/// Read by the handler; written before the handlers are installed.
private var announceOnSignal: sig_atomic_t = 0

private let stopNotice: StaticString = "\nstop requested: finishing this step and saving a checkpoint (signal again to quit now)\n"

/// Only async-signal-safe calls here: set the flag, write(2), _exit(2).
private func handleStopSignal(_ signal: Int32) {
    if stopFlag.pointee != 0 { _exit(128 + signal) }
    stopFlag.pointee = 1
    if announceOnSignal != 0 {
        _ = write(STDERR_FILENO, stopNotice.utf8Start, stopNotice.utf8CodeUnitCount)
    }
}
