import Foundation

/// Ends a job that stopped making progress: each rank's trainer reports what it starts (a
/// micro-step, the wait for the step's exchange, an evaluation, a save); when nothing new has
/// started for `timeout` seconds (collective_timeout_s), a thread of its own prints one line
/// naming the rank, the iteration, what it was waiting in and on whom, and calls `abort` (MPI_Abort
/// under mpirun), so the job ends and a launcher can restart it instead of hanging until the
/// scheduler's wall time.
final class Watchdog {
    private let timeout: Double
    private let rank: Int
    private let worldSize: Int
    private let abort: () -> Never
    /// What begins the line (the command's error prefix, e.g. `gpt-dist train: error: `).
    private let prefix: String
    private let lock = NSLock()
    private var activity = "starting"
    /// The collective the rank waits in, if it is inside one (reported by the exchange).
    private var wait: ExchangeWait?
    private var iteration = 0
    private var since = DispatchTime.now().uptimeNanoseconds
    private var stopped = false

    init(timeout: Double, rank: Int, worldSize: Int, prefix: String, abort: @escaping () -> Never) {
        self.timeout = timeout
        self.prefix = prefix
        self.rank = rank
        self.worldSize = worldSize
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

    /// Ends the watch (the run is over).
    func stop() {
        lock.lock()
        stopped = true
        lock.unlock()
    }

    private func watch() {
        let tick = min(1.0, max(0.05, timeout / 4))
        while true {
            Thread.sleep(forTimeInterval: tick)
            lock.lock()
            let done = stopped
            let waited = Double(DispatchTime.now().uptimeNanoseconds - since) / 1e9
            let what = activity, it = iteration, collective = wait
            lock.unlock()
            if done { return }
            if waited > timeout {
                let inside = collective.map { ", waiting in \($0)" } ?? ""
                let peers = worldSize > 1 ? "; its collectives wait on ranks 0-\(worldSize - 1) of \(worldSize)" : ""
                let line = "\(prefix)rank \(rank): no progress for \(Int(waited)) s in \(what) of iteration \(it)\(inside)\(peers); aborting the job (collective_timeout_s \(formatted(timeout)))\n"
                FileHandle.standardError.write(Data(line.utf8))
                abort()
            }
        }
    }

    private func formatted(_ value: Double) -> String {
        value == value.rounded() ? "\(Int(value))" : "\(value)"
    }
}
