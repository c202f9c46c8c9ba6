import Foundation
import TestSupport
import XCTest

/// A child process the test signals or kills while it runs: its output goes to files in a
/// folder, and the test polls for what it waits for.
final class BackgroundRun {
    let process = Process()
    let stdoutURL: URL
    let stderrURL: URL

    /// Starts `executable` with `arguments`; the output goes to `name`.stdout/.stderr in `folder`.
    init(_ executable: URL, _ arguments: [String], environment: [String: String], folder: URL, name: String) throws {
        stdoutURL = folder.appendingPathComponent("\(name).stdout")
        stderrURL = folder.appendingPathComponent("\(name).stderr")
        for url in [stdoutURL, stderrURL] { _ = FileManager.default.createFile(atPath: url.path, contents: nil) }
        process.executableURL = executable
        process.arguments = arguments
        process.environment = childEnvironment(environment)
        process.standardOutput = try FileHandle(forWritingTo: stdoutURL)
        process.standardError = try FileHandle(forWritingTo: stderrURL)
        process.standardInput = FileHandle.nullDevice
        try process.run()
    }

    /// A run the test left going is ended: SIGTERM first (mpirun then ends its ranks), SIGKILL
    /// after 5 s.
    deinit {
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGTERM)
        if !Self.wait(seconds: 5, until: { !process.isRunning }) { kill(process.processIdentifier, SIGKILL) }
    }

    var pid: pid_t { process.processIdentifier }
    var stdout: String { (try? String(contentsOf: stdoutURL, encoding: .utf8)) ?? "" }
    var stderr: String { (try? String(contentsOf: stderrURL, encoding: .utf8)) ?? "" }
    var output: String { "stdout:\n\(stdout)\nstderr:\n\(stderr)" }

    /// Polls `condition` every 50 ms for up to `seconds`; true when it came true.
    @discardableResult
    static func wait(seconds: Double, until condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if condition() { return true }
            Thread.sleep(forTimeInterval: 0.05)
        }
        return condition()
    }

    /// The exit status once the process ended within `seconds` (nil: still running).
    func exitStatus(within seconds: Double) -> Int32? {
        guard Self.wait(seconds: seconds, until: { !process.isRunning }) else { return nil }
        process.waitUntilExit()
        return process.terminationStatus
    }
}

/// Processes found by their command line and environment (the ranks mpirun started).
enum RankProcesses {
    /// The pid of the process whose command line mentions `marker` and whose Open MPI rank is
    /// `rank`.
    static func pid(rank: Int, marker: String) -> pid_t? {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        for entry in entries {
            guard let pid = pid_t(entry),
                  let command = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline"),
                  String(decoding: command, as: UTF8.self).contains(marker),
                  let environment = FileManager.default.contents(atPath: "/proc/\(entry)/environ") else { continue }
            let variables = environment.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
            if variables.contains("OMPI_COMM_WORLD_RANK=\(rank)") { return pid }
        }
        return nil
    }

    /// This machine's host name as mpirun and gpt-dist print it (up to the first dot).
    static var shortHostName: String {
        var name = [CChar](repeating: 0, count: 256)
        guard gethostname(&name, name.count - 1) == 0 else { return "?" }
        let full = String(cString: name)
        return full.split(separator: ".").first.map(String.init) ?? full
    }
}
