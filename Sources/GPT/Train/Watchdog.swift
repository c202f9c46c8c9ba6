import Foundation
import Parallel

/// Ends a job that stopped making progress, and names who it waits on: each rank's trainer
/// reports what it starts (a micro-step, the wait for the step's exchange, an evaluation, a
/// save) and each collective it waits in; when nothing new has started for `timeout` seconds
/// (collective_timeout_s), a thread of its own asks the other ranks over a side channel
/// (`PeerChannel`: it never waits on the collective that hangs) what they are doing, prints one
/// line naming the rank, the iteration, what it waits in and the peers it waits on (those that
/// do not answer, are behind or are not in a collective), and calls `abort` (MPI_Abort under
/// mpirun), so the job ends and a launcher can restart it instead of hanging until the
/// scheduler's wall time.
///
/// The same thread answers the other ranks' questions, and after a stop signal (mpirun's SIGTERM
/// when a rank died, a launcher's SIGUSR1) asks once whether every rank still answers: the
/// lowest rank that does names the ones that do not, with the iteration (rank 0 and the last
/// rank may be the dead ones). A SIGCONT (a suspended job resumed; mpirun continuing every rank
/// as it ends a job) starts the wait again, here and at a peer that hears the continued rank's
/// answer, so a rank that was stopped is never taken for one that waits. Nothing of this runs per step: the reports are stores under a
/// lock, the channel is polled ten times a second and its messages travel only when asked.
final class Watchdog {
    /// Seconds without progress before the job is aborted (0: never; the thread only serves the
    /// channel).
    private let timeout: Double
    private let rank: Int
    private let worldSize: Int
    private let abort: () -> Never
    /// What begins the timeout's line (the command's error prefix, e.g. `gpt-dist train: error: `).
    private let prefix: String
    /// What begins the line about ranks that do not answer (e.g. `gpt-dist train: rank 1 on h1`).
    private let speaker: String
    private let channel: PeerChannel?
    private let lock = NSLock()
    private var activity = "starting"
    /// The collective the rank waits in, if it is inside one (reported by the exchange).
    private var wait: ExchangeWait?
    private var iteration = 0
    private var since = DispatchTime.now().uptimeNanoseconds
    private var stopped = false
    /// `StopRequest.continuations` when `snapshot` last looked, and when it last changed.
    private var continuationsSeen = StopRequest.continuations
    private var continuedAt: UInt64?
    private let finished = DispatchSemaphore(value: 0)

    /// Seconds a rank waits for its peers' answers after a stop signal: mpirun's SIGKILL follows
    /// its SIGTERM by one second, and every rank that is alive answers within a poll (0.1 s).
    static let signalAskSeconds = 0.5

    init(timeout: Double, rank: Int, worldSize: Int, prefix: String, speaker: String, channel: PeerChannel?,
         abort: @escaping () -> Never) {
        self.timeout = timeout
        self.prefix = prefix
        self.speaker = speaker
        self.rank = rank
        self.worldSize = worldSize
        self.channel = channel
        self.abort = abort
        // The thread keeps the watchdog alive until `stop` ends it.
        let thread = Thread { self.watch() }
        thread.name = "gpt-dist watchdog"
        thread.start()
    }

    /// Progress: the rank starts `what` of `iteration`.
    func enter(_ what: String, iteration: Int) {
        lock.lock()
        activity = what
        wait = nil
        self.iteration = iteration
        since = DispatchTime.now().uptimeNanoseconds
        lock.unlock()
    }

    /// Progress: the rank starts waiting in `collective` (within what it started last).
    func waiting(in collective: ExchangeWait) {
        lock.lock()
        wait = collective
        since = DispatchTime.now().uptimeNanoseconds
        lock.unlock()
    }

    /// Progress: the wait `waiting(in:)` announced is over.
    func waited() {
        lock.lock()
        wait = nil
        since = DispatchTime.now().uptimeNanoseconds
        lock.unlock()
    }

    /// Ends the watch (the run is over): waits for the thread, then closes the channel, so no
    /// MPI call of it outlives the run.
    func stop() {
        lock.lock()
        let already = stopped
        stopped = true
        lock.unlock()
        if already { return }
        finished.wait()
        channel?.close()
    }

    /// What this rank does, as its peers see it.
    private struct State {
        var iteration: Int
        var activity: String
        var collective: String?
        /// The process got a SIGCONT within the last `continuedWindowSeconds`: it was stopped
        /// (a frozen host, a suspended job) or mpirun is ending the job, so what it says now is
        /// not why anyone waited.
        var continued: Bool

        var bytes: [UInt8] { Array("\(iteration)\n\(continued ? 1 : 0)\n\(activity)\n\(collective ?? "")".utf8) }

        init(iteration: Int, activity: String, collective: String?, continued: Bool) {
            (self.iteration, self.activity, self.collective, self.continued) = (iteration, activity, collective, continued)
        }

        init?(_ bytes: [UInt8]) {
            let parts = String(decoding: bytes, as: UTF8.self).split(separator: "\n", maxSplits: 3, omittingEmptySubsequences: false)
            guard parts.count == 4, let iteration = Int(parts[0]), let continued = Int(parts[1]) else { return nil }
            self.init(iteration: iteration, activity: String(parts[2]), collective: parts[3].isEmpty ? nil : String(parts[3]),
                      continued: continued != 0)
        }

        var description: String {
            "in \(activity) of iteration \(iteration)" + (collective.map { ", waiting in \($0)" } ?? "")
        }
    }

    /// How long after a SIGCONT a rank's answers say it was continued. mpirun ends a job with
    /// SIGCONT to every rank, SIGTERM a second later and SIGKILL a second after that, so a peer
    /// continued this recently was either stopped until now or is being ended with the job.
    static let continuedWindowSeconds = 10.0

    /// What the rank does, how long since its last progress, and whether the watch is over.
    /// A SIGCONT since the last look counts as progress: time spent stopped (a suspended job,
    /// Ctrl-Z) is not time without progress.
    private func snapshot() -> (State, waited: Double, done: Bool) {
        lock.lock()
        defer { lock.unlock() }
        let now = DispatchTime.now().uptimeNanoseconds
        if StopRequest.continuations != continuationsSeen {
            continuationsSeen = StopRequest.continuations
            continuedAt = now
            since = now
        }
        let waited = Double(now - since) / 1e9
        let continued = continuedAt.map { Double(now - $0) / 1e9 < Self.continuedWindowSeconds } ?? false
        return (State(iteration: iteration, activity: activity, collective: wait?.description, continued: continued), waited, stopped)
    }

    /// Starts the wait for progress again (a peer was just continued).
    private func restartWait() {
        lock.lock()
        since = DispatchTime.now().uptimeNanoseconds
        lock.unlock()
    }

    private func watch() {
        defer { finished.signal() }
        // With a channel, the questions of other ranks are answered within a tenth of a second.
        let tick = channel != nil ? 0.1 : min(1.0, max(0.05, timeout / 4))
        var askedAfterSignal = false
        while true {
            _ = StopRequest.waitForSignal(seconds: tick)
            let (state, waited, done) = snapshot()
            if done { return }
            let status = { [unowned self] in snapshot().0.bytes }
            channel?.answerQueries(with: status)
            if let channel, !askedAfterSignal, StopRequest.isRequested {
                askedAfterSignal = true
                reportSilentPeers(channel, state: state, status: status)
            }
            if timeout > 0 && waited > timeout {
                let signalledBefore = StopRequest.isRequested, continuedBefore = StopRequest.continuations
                let answers = channel?.askPeers(timeout: min(5, max(2, timeout)), answering: status)
                // mpirun's SIGTERM while it asked: the job is being ended (another rank's
                // watchdog aborted it first and spoke).
                if !signalledBefore && StopRequest.signalName == "SIGTERM" { abort() }
                // A SIGCONT here or at a peer while it asked: mpirun is ending the job (its
                // SIGTERM follows; a stopped rank it continued now answers from where it was
                // frozen, which would mislead) or the job was resumed after a suspension. Either
                // way nobody waited on what the answers say now: the wait starts again.
                let continuedPeer = answers?.contains { $0.flatMap(State.init)?.continued == true } ?? false
                if StopRequest.continuations != continuedBefore || continuedPeer {
                    restartWait()
                    continue
                }
                let inside = state.collective.map { ", waiting in \($0)" } ?? ""
                let line = "\(prefix)rank \(rank): no progress for \(Int(waited)) s in \(state.activity) of iteration \(state.iteration)\(inside)\(peers(answers, state: state)); aborting the job (collective_timeout_s \(formatted(timeout)))\n"
                FileHandle.standardError.write(Data(line.utf8))
                abort()
            }
        }
    }

    /// After a stop signal: asks every rank; when some do not answer, the lowest rank that does
    /// names them (one line for the job).
    private func reportSilentPeers(_ channel: PeerChannel, state: State, status: () -> [UInt8]) {
        let answers = channel.askPeers(timeout: Self.signalAskSeconds, answering: status)
        let silent = (0..<worldSize).filter { $0 != rank && answers[$0] == nil }
        guard !silent.isEmpty, (0..<worldSize).first(where: { $0 == rank || answers[$0] != nil }) == rank else { return }
        let names = listed(silent.map { "rank \($0) (host \(host($0)))" })
        let verb = silent.count == 1 ? "does" : "do"
        let line = "\(speaker): \(names) \(verb) not answer at iteration \(state.iteration) (died or hung; this rank got \(StopRequest.signalName ?? "a stop signal"))\n"
        FileHandle.standardError.write(Data(line.utf8))
    }

    /// The peers named in the timeout's line. In a collective: the ranks it waits on (those that
    /// do not answer, are at an earlier iteration or are not in a collective; else those in
    /// another collective). Outside one (this rank is the one stuck): the ranks that do not answer
    /// or are outside a collective too.
    private func peers(_ answers: [[UInt8]?]?, state: State) -> String {
        guard worldSize > 1 else { return "" }
        guard let answers else { return "; its collectives wait on ranks 0-\(worldSize - 1) of \(worldSize)" }
        var behind: [String] = [], elsewhere: [String] = []
        for peer in 0..<worldSize where peer != rank {
            let name = "rank \(peer) (host \(host(peer)))"
            guard let answer = answers[peer], let other = State(answer) else {
                behind.append("\(name): not responding")
                continue
            }
            if other.collective == nil || other.iteration < state.iteration {
                behind.append("\(name): \(other.iteration < state.iteration ? "still " : "")\(other.description)")
            } else if other.iteration != state.iteration || other.collective != state.collective {
                elsewhere.append("\(name): \(other.description)")
            }
        }
        if state.collective == nil {
            return behind.isEmpty ? "; every other rank answers, waiting in a collective" : "; " + capped(behind)
        }
        if !behind.isEmpty { return "; waits on " + capped(behind) }
        if !elsewhere.isEmpty { return "; waits on " + capped(elsewhere) }
        return "; every other rank answers and waits in the same collective"
    }

    /// Up to 8 entries joined by "; ", then how many more.
    private func capped(_ items: [String]) -> String {
        let shown = items.prefix(8).joined(separator: "; ")
        return items.count > 8 ? shown + "; and \(items.count - 8) more ranks" : shown
    }

    /// "a", "a and b", "a, b and c".
    private func listed(_ items: [String]) -> String {
        let shown = Array(items.prefix(8)) + (items.count > 8 ? ["\(items.count - 8) more ranks"] : [])
        return shown.count <= 1 ? shown.joined() : shown.dropLast().joined(separator: ", ") + " and " + shown.last!
    }

    /// A rank's host as mpirun names it (up to the first dot).
    private func host(_ peer: Int) -> String {
        guard let channel, peer < channel.hosts.count else { return "?" }
        let full = channel.hosts[peer]
        return full.split(separator: ".").first.map(String.init) ?? full
    }

    private func formatted(_ value: Double) -> String {
        value == value.rounded() ? "\(Int(value))" : "\(value)"
    }
}
