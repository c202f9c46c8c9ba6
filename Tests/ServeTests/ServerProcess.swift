import Foundation
import TestSupport

/// A `gpt-dist serve` child on a free port (`--port 0`; the port is read from its start line),
/// stopped with SIGTERM when the test is done.
final class ServerProcess {
    let process = Process()
    /// The port it listens on.
    private(set) var port = 0
    private let lock = NSLock()
    private var stdout = Data(), stderr = Data()

    /// Starts the server on `checkpoint` with extra `arguments` and waits (up to 60 s) until it listens.
    init(checkpoint: String, _ arguments: [String] = [], environment: [String: String] = [:]) throws {
        process.executableURL = productURL("gpt-dist")
        process.arguments = ["serve", "--checkpoint", checkpoint, "--port", "0", "--threads", "1"] + arguments
        process.environment = childEnvironment(environment)
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        out.fileHandleForReading.readabilityHandler = { [weak self] h in
            let d = h.availableData
            guard let self else { return }
            self.lock.lock(); self.stdout += d; self.lock.unlock()
        }
        err.fileHandleForReading.readabilityHandler = { [weak self] h in
            let d = h.availableData
            guard let self else { return }
            self.lock.lock(); self.stderr += d; self.lock.unlock()
        }
        try process.run()
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            if let range = output.range(of: "listening on http://127.0.0.1:") {
                let digits = output[range.upperBound...].prefix { $0.isNumber }
                if let p = Int(digits), output[range.upperBound...].dropFirst(digits.count).first == "\n" {
                    port = p
                    return
                }
            }
            if !process.isRunning { break }
            usleep(20_000)
        }
        if process.isRunning { process.terminate() }
        throw FixtureError("gpt-dist serve did not start: \(output)\nstderr: \(errors)")
    }

    /// What it printed on standard output so far.
    var output: String {
        lock.lock(); defer { lock.unlock() }
        return String(decoding: stdout, as: UTF8.self)
    }

    /// What it printed on standard error so far.
    var errors: String {
        lock.lock(); defer { lock.unlock() }
        return String(decoding: stderr, as: UTF8.self)
    }

    /// `http://127.0.0.1:<port><path>`.
    func url(_ path: String) -> URL { URL(string: "http://127.0.0.1:\(port)\(path)")! }

    /// Sends SIGTERM and waits (up to `timeout` seconds) for the exit; returns the exit status,
    /// or nil if it did not exit in time (it is then killed).
    @discardableResult
    func terminate(timeout: TimeInterval = 30) -> Int32? {
        if process.isRunning { kill(process.processIdentifier, SIGTERM) }
        return waitForExit(timeout: timeout)
    }

    /// Waits up to `timeout` seconds for the exit; returns the status, or nil after killing it.
    func waitForExit(timeout: TimeInterval) -> Int32? {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            return nil
        }
        return process.terminationStatus
    }

    deinit {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }
}
