import CMPI
import Foundation

/// The process's MPI library: started at most once (`MPI_Init_thread`), finished at most once
/// (`MPI_Finalize`, also registered with `atexit`), plus the calls that are legal without it.
public enum MPIRuntime {
    private static let lock = NSLock()
    /// Held around every MPI call of the process (the collectives, the ring engine's progress
    /// thread, finalisation), which is what `MPI_THREAD_SERIALIZED` asks. Recursive, so a
    /// collective may be built on another. The one exception is `PeerChannel`, whose calls on a
    /// communicator of its own run beside a collective that hangs (`MPI_THREAD_MULTIPLE`).
    static let callLock = NSRecursiveLock()

    /// The thread level `MPI_Init_thread` provided (`MPI_THREAD_SINGLE` ... `MPI_THREAD_MULTIPLE`;
    /// nil before MPI started in this process).
    public private(set) static var providedThreadLevel: String?
    /// True when the library provided `MPI_THREAD_MULTIPLE`, which `PeerChannel` needs.
    static var providesThreadMultiple = false

    /// True once `MPI_Init_thread` has run in this process (`MPI_Initialized`).
    public static var isInitialized: Bool {
        var flag: Int32 = 0
        MPI_Initialized(&flag)
        return flag != 0
    }

    /// True once `MPI_Finalize` has run in this process (`MPI_Finalized`).
    public static var isFinalized: Bool {
        var flag: Int32 = 0
        MPI_Finalized(&flag)
        return flag != 0
    }

    /// The MPI library's own version text (`MPI_Get_library_version`, e.g. "Open MPI v4.1.4, ...");
    /// the MPI standard allows this call before `MPI_Init`, so it does not start MPI.
    public static func libraryVersion() -> String {
        var buffer = [CChar](repeating: 0, count: Int(cmpi_max_library_version_string()) + 1)
        var length: Int32 = 0
        guard MPI_Get_library_version(&buffer, &length) == cmpi_success() else { return "unknown" }
        return String(cString: buffer).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The MPI standard version the library implements (`MPI_Get_version`), e.g. "3.1".
    public static func standardVersion() -> String {
        var major: Int32 = 0, minor: Int32 = 0
        MPI_Get_version(&major, &minor)
        return "\(major).\(minor)"
    }

    /// Starts MPI unless it already runs, asking for `MPI_THREAD_MULTIPLE` and throwing if the
    /// library provides less than `MPI_THREAD_SERIALIZED` (the collectives are called from any
    /// one thread at a time, under `callLock`; only a `PeerChannel` needs more, and there is none
    /// without it). Registers `finalize()` to run at exit.
    static func initializeOnce() throws {
        lock.lock()
        defer { lock.unlock() }
        if isFinalized {
            throw MPIError(operation: "MPI_Init_thread", code: -1, message: "MPI was already finalized in this process")
        }
        if isInitialized { return }
        // Open MPI's TCP transport moves one direction of a connection at a time: a ring step,
        // which sends and receives at once, got half of a 1 Gbit/s link (0.06-0.07 GB/s for a
        // 16 MiB allreduce across two emulated hosts, 0.12 with two connections per peer, as
        // gloo reaches). Two links per peer unless the user chose otherwise (mpirun's --mca or
        // the environment; mpirun exports its --mca settings as these variables).
        setenv("OMPI_MCA_btl_tcp_links", "2", 0)
        var provided: Int32 = 0
        let code = MPI_Init_thread(nil, nil, cmpi_thread_multiple(), &provided)
        try check(code, "MPI_Init_thread")
        atexit { MPIRuntime.finalize() }
        providedThreadLevel = threadLevelName(provided)
        providesThreadMultiple = provided >= cmpi_thread_multiple()
        guard provided >= cmpi_thread_serialized() else {
            throw MPIError(operation: "MPI_Init_thread", code: -1,
                           message: "library provides thread level \(threadLevelName(provided)), need MPI_THREAD_SERIALIZED")
        }
    }

    /// Ends MPI (`MPI_Finalize`) if it was started and is not yet finished; safe to call any
    /// number of times, and called at exit anyway. Every rank must call it (it synchronises).
    public static func finalize() {
        lock.lock()
        defer { lock.unlock() }
        guard isInitialized, !isFinalized else { return }
        callLock.lock()
        MPI_Finalize()
        callLock.unlock()
    }

    /// Turns an MPI return code into a thrown `MPIError` carrying MPI's text for it.
    /// A duplicate of `world` whose errors are returned as codes (collective: every rank calls it).
    static func duplicate(_ world: MPI_Comm) throws -> MPI_Comm {
        var dup: MPI_Comm? = cmpi_comm_null()
        try check(MPI_Comm_dup(world, &dup), "MPI_Comm_dup")
        try check(MPI_Comm_set_errhandler(dup!, cmpi_errors_return()), "MPI_Comm_set_errhandler")
        return dup!
    }

    static func check(_ code: Int32, _ operation: String) throws {
        guard code != cmpi_success() else { return }
        throw MPIError(operation: operation, code: code, message: errorString(code))
    }

    /// MPI's text for an error code (`MPI_Error_string`).
    static func errorString(_ code: Int32) -> String {
        func text(_ c: Int32) -> String? {
            var buffer = [CChar](repeating: 0, count: Int(cmpi_max_error_string()) + 1)
            var length: Int32 = 0
            guard MPI_Error_string(c, &buffer, &length) == cmpi_success() else { return nil }
            return String(cString: buffer)
        }
        return text(code) ?? "unknown MPI error"
    }

    static func threadLevelName(_ level: Int32) -> String {
        switch level {
        case cmpi_thread_single(): return "MPI_THREAD_SINGLE"
        case cmpi_thread_funneled(): return "MPI_THREAD_FUNNELED"
        case cmpi_thread_serialized(): return "MPI_THREAD_SERIALIZED"
        case cmpi_thread_multiple(): return "MPI_THREAD_MULTIPLE"
        default: return "\(level)"
        }
    }
}
