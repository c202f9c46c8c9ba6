import Foundation

/// Ctrl-C (SIGINT), SIGTERM (what mpirun and Slurm send to stop a job) and SIGUSR1 (what the
/// launchers forward through mpirun, which passes no SIGINT or SIGTERM on; also Slurm's
/// `--signal=USR1@SECONDS` before the time limit) during training: the first one asks the
/// trainer to finish its step, save a checkpoint and stop; a second one ends the process at
/// once, abandoning a save in progress (its temporary file is removed; the previous checkpoint
/// was never touched). "Second" means the same signal again: another kind after the first is
/// the same request, as when a terminal's Ctrl-C reaches a launcher and ranks that share its
/// process group and the launcher then sends them SIGTERM, or when mpirun ends a job whose
/// ranks already save. A run stopped either way exits with `exitStatus`.
///
/// The announcing rank prints one line for each signal, naming itself, its host and the
/// iteration (when a rank dies, mpirun's SIGTERM to the others makes this the line that says
/// where the job was).
public enum StopRequest {
    /// The exit status of a run stopped by a signal, alone or under mpirun (which exits 1 once
    /// it is signalled, whatever its ranks return): 1, saved or not.
    public static let exitStatus: Int32 = 1

    /// True once a stop signal arrived.
    public static var isRequested: Bool { stopFlag.pointee != 0 }

    /// Clears the request (tests, or a second run in one process).
    public static func reset() { stopFlag.pointee = 0 }

    /// Asks for a stop as a signal would (tests).
    public static func request() { stopFlag.pointee = 1 }

    /// Installs the handlers for SIGINT, SIGTERM and SIGUSR1. `speaker` begins the lines printed
    /// when a signal arrives (e.g. `gpt-dist train: rank 0 on node1`); nil prints nothing.
    public static func install(speaker: String?) {
        // Initialise the globals here, outside the handler.
        _ = (stopFlag, currentIteration, saving, hasSavePath, firstSignalNumber, savePath, digits, wakeRead, wakeWrite, line, lineLength)
        if wakeRead < 0 {
            var ends: [Int32] = [-1, -1]
            if pipe(&ends) == 0 {
                for end in ends {
                    _ = fcntl(end, F_SETFL, fcntl(end, F_GETFL) | O_NONBLOCK)
                    _ = fcntl(end, F_SETFD, FD_CLOEXEC)
                }
                (wakeRead, wakeWrite) = (ends[0], ends[1])
            }
        }
        if let speaker {
            let bytes = Array((speaker + ": ").utf8)
            let buffer = UnsafeMutablePointer<UInt8>.allocate(capacity: bytes.count)
            buffer.initialize(from: bytes, count: bytes.count)
            speakerText = UnsafePointer(buffer)
            speakerLength = bytes.count
        } else {
            speakerText = nil
        }
        signal(SIGINT, handleStopSignal)
        signal(SIGTERM, handleStopSignal)
        signal(SIGUSR1, handleStopSignal)
    }

    /// Waits up to `seconds` for a stop signal (the handler wakes it at once); true when one
    /// arrived since the last call. Without `install`, it only sleeps.
    public static func waitForSignal(seconds: Double) -> Bool {
        guard wakeRead >= 0 else {
            Thread.sleep(forTimeInterval: seconds)
            return false
        }
        var descriptor = pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0)
        guard poll(&descriptor, 1, Int32(max(0, seconds) * 1000)) > 0 else { return false }
        var scratch = [UInt8](repeating: 0, count: 16)
        var woke = false
        while read(wakeRead, &scratch, scratch.count) > 0 { woke = true }
        return woke
    }

    /// The signal that made the request, e.g. "SIGTERM" (nil before one arrived).
    public static var signalName: String? {
        isRequested ? name(of: firstSignalNumber.pointee) : nil
    }

    fileprivate static func name(of signal: sig_atomic_t) -> String {
        switch signal {
        case SIGINT: return "SIGINT"
        case SIGTERM: return "SIGTERM"
        case SIGUSR1: return "SIGUSR1"
        default: return "signal \(signal)"
        }
    }

    /// The iteration the run is at, for the signal's line.
    public static func enter(iteration: Int) {
        currentIteration.pointee = sig_atomic_t(truncatingIfNeeded: iteration)
    }

    /// A save begins: a second signal now abandons it and removes `temporary` (the file being
    /// written on this rank; nil on the ranks that only send their parts).
    public static func beginSave(temporary: String?) {
        hasSavePath.pointee = 0
        let bytes = Array((temporary ?? "").utf8CString)
        if temporary != nil && bytes.count <= pathCapacity {
            bytes.withUnsafeBufferPointer { savePath.update(from: $0.baseAddress!, count: bytes.count) }
            hasSavePath.pointee = 1
        }
        saving.pointee = 1
    }

    /// The save is over (written or failed).
    public static func endSave() {
        saving.pointee = 0
        hasSavePath.pointee = 0
    }

    /// The host name as mpirun prints it (up to the first dot).
    public static var shortHostName: String {
        var name = [CChar](repeating: 0, count: 256)
        guard gethostname(&name, name.count - 1) == 0 else { return "?" }
        let full = String(cString: name)
        return full.split(separator: ".").first.map(String.init) ?? full
    }
}

/// Set by the signal handler; read once per optimizer step.
private let stopFlag = flag()
/// The iteration for the signal's line, and whether a save is being written (and the path of
/// its temporary file, when this rank writes one).
private let currentIteration = flag()
private let saving = flag()
private let hasSavePath = flag()
/// The signal that made the request.
private let firstSignalNumber = flag()
private let pathCapacity = 4096
private let savePath = UnsafeMutablePointer<CChar>.allocate(capacity: pathCapacity)
/// Scratch for the iteration's digits (written by the handler only).
private let digits = UnsafeMutablePointer<UInt8>.allocate(capacity: 24)

private func flag() -> UnsafeMutablePointer<sig_atomic_t> {
    let p = UnsafeMutablePointer<sig_atomic_t>.allocate(capacity: 1)
    p.pointee = 0
    return p
}

/// The pipe the handler writes a byte to, so a thread waiting in `waitForSignal` wakes at once
/// (-1: none).
private var wakeRead: Int32 = -1
private var wakeWrite: Int32 = -1

/// What begins the handler's lines (nil: it prints nothing); written before the handlers are
/// installed.
private var speakerText: UnsafePointer<UInt8>?
private var speakerLength = 0

private let firstSignal: StaticString = ": finishing this step, then saving a checkpoint and stopping (a second signal stops at once)\n"
private let secondDuringSave: StaticString = "second stop signal: abandoning the save in progress (its temporary file removed; the previous checkpoint stays as it was)\n"
private let secondOtherwise: StaticString = "second stop signal: stopping at once, without saving (the last checkpoint saved stays as it was)\n"

/// The handler's line, composed here and written with one write(2), so the lines of ranks that
/// share mpirun's output never interleave.
private let lineCapacity = 8192
private let line = UnsafeMutablePointer<UInt8>.allocate(capacity: lineCapacity)
private var lineLength = 0

private func append(_ bytes: UnsafePointer<UInt8>, _ count: Int) {
    let n = min(count, lineCapacity - lineLength)
    for i in 0..<n { line[lineLength + i] = bytes[i] }
    lineLength += n
}

private func append(_ text: StaticString) {
    append(text.utf8Start, text.utf8CodeUnitCount)
}

/// Writes the line composed so far (it ends with its newline) and starts a new one.
private func flushLine() {
    _ = write(STDERR_FILENO, line, lineLength)
    lineLength = 0
}

/// Only async-signal-safe calls here: write(2), unlink(2), _exit(2).
private func handleStopSignal(_ signal: Int32) {
    let announce = speakerText != nil
    lineLength = 0
    if stopFlag.pointee != 0 {
        // The other kind than the first (a launcher's SIGTERM after the terminal's SIGINT
        // reached the whole foreground group) is the same request again.
        if signal != firstSignalNumber.pointee { return }
        let inSave = saving.pointee != 0
        if announce, let speakerText {
            append(speakerText, speakerLength)
            append(inSave ? secondDuringSave : secondOtherwise)
            flushLine()
        }
        if inSave && hasSavePath.pointee != 0 { unlink(savePath) }
        _exit(StopRequest.exitStatus)
    }
    stopFlag.pointee = 1
    firstSignalNumber.pointee = sig_atomic_t(signal)
    if wakeWrite >= 0 {
        var byte: UInt8 = 1
        _ = write(wakeWrite, &byte, 1)
    }
    guard announce, let speakerText else { return }
    append(speakerText, speakerLength)
    switch signal {
    case SIGINT: append("stop requested (SIGINT) at iteration ")
    case SIGTERM: append("stop requested (SIGTERM) at iteration ")
    default: append("stop requested (SIGUSR1) at iteration ")
    }
    var value = Int(currentIteration.pointee), count = 0
    repeat {
        digits[23 - count] = UInt8(48 + value % 10)
        value /= 10
        count += 1
    } while value > 0 && count < 24
    append(digits + (24 - count), count)
    append(firstSignal)
    flushLine()
}
