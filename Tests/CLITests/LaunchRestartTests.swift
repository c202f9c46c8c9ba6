import Foundation
import GPT
import TestSupport
import XCTest

/// `launch/local.sh --max-restarts N`: a run whose rank dies is started again from the newest
/// checkpoint and ends with the parameters of a run that never failed; a failure that repeats
/// stops the restarts with the list of causes.
final class LaunchRestartTests: XCTestCase {
    var directory: URL!
    var data: String!
    let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("launch/local.sh").path

    override func setUpWithError() throws {
        directory = try makeTemporaryDirectory("launch-restart")
        data = try TrainTestData.prepareDataset(in: directory)
    }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: directory) }

    func launch(_ name: String, _ options: [String], environment: [String: String] = [:]) throws -> (ProcessResult, String) {
        let out = directory.appendingPathComponent(name).path
        let config = directory.appendingPathComponent(name + ".yaml").path
        try TrainTestData.config(dataDir: data, outDir: out).write(toFile: config, atomically: true, encoding: .utf8)
        var env = TrainTestData.environment.merging(environment) { $1 }
        env["GPT_DIST"] = productURL("gpt-dist").path
        env["RESTART_DELAY"] = "0"
        let result = try TestSupport.run(URL(fileURLWithPath: "/bin/bash"), [script] + options + ["2", config, "--quiet"], environment: env)
        return (result, out)
    }

    func testKilledRankIsRestartedAndEndsBitIdentical() throws {
        let (clean, cleanOut) = try launch("clean", [])
        XCTAssertEqual(clean.status, 0, clean.output)
        // Rank 1 dies as iteration 15 starts (after the save at 10); the restart resumes at 10.
        let (restarted, out) = try launch("restarted", ["--max-restarts", "2"], environment: ["GPT_DIST_TEST_DIE_AT_STEP": "15"])
        XCTAssertEqual(restarted.status, 0, restarted.output)
        XCTAssertTrue(restarted.stderr.contains("launch: run failed (mpirun noticed that process rank 1 with PID"), restarted.stderr)
        XCTAssertTrue(restarted.stderr.contains("restart 1 of 2 in 0 s from the newest checkpoint in \(out)"), restarted.stderr)
        XCTAssertTrue(restarted.stdout.contains("resuming \(out)/ckpt.h5 at iteration 10"), restarted.stdout)
        let a = try Checkpoint.read(path: cleanOut + "/ckpt.h5"), b = try Checkpoint.read(path: out + "/ckpt.h5")
        XCTAssertEqual(b.state?.iteration, 20)
        XCTAssertEqual(b.parameters, a.parameters)
        XCTAssertEqual(b.optimizer, a.optimizer)
    }

    func testRepeatedFailureStopsWithTheCauses() throws {
        let (result, _) = try launch("nan", ["--max-restarts", "3"],
                                     environment: ["GPT_DIST_TEST_POISON_STEP": "12-30"])
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.stderr.contains("launch: the same failure twice in a row; not restarting"), result.stderr)
        XCTAssertTrue(result.stderr.contains("launch: giving up after 2 failed run(s):"), result.stderr)
        XCTAssertTrue(result.stderr.contains("launch:   run 2: gpt-dist train: error: stopping at iteration 19: 8 updates in a row skipped"), result.stderr)
    }

    /// The process group of the bash running `script` (field 5 of /proc/PID/stat).
    func processGroup(ofBashRunning script: String) -> pid_t? {
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard pid_t(entry) != nil, let command = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline"),
                  String(decoding: command, as: UTF8.self).hasPrefix("/bin/bash\u{0}\(script)\u{0}"),
                  let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { continue }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            if fields.count > 2, let group = pid_t(fields[2]) { return group }
        }
        return nil
    }

    /// Ctrl-C as a terminal sends it (SIGINT to the launcher's whole process group) stops the
    /// run with its checkpoint, and `--max-restarts` does not start it again.
    func testCtrlCIsNotRestarted() throws {
        let name = "ctrl-c"
        let out = directory.appendingPathComponent(name).path
        let config = directory.appendingPathComponent(name + ".yaml").path
        try TrainTestData.config(dataDir: data, outDir: out).write(toFile: config, atomically: true, encoding: .utf8)
        var env = TrainTestData.environment
        env["GPT_DIST"] = productURL("gpt-dist").path
        env["RESTART_DELAY"] = "0"
        // setsid: a process group of its own, as a shell gives a foreground job.
        let run = try BackgroundRun(URL(fileURLWithPath: "/usr/bin/setsid"),
                                    ["--wait", "/bin/bash", script, "--max-restarts", "2", "2", config, "--quiet",
                                     "--set", "max_iters=100000", "--set", "eval_interval=100000"],
                                    environment: env, folder: directory, name: name)
        XCTAssertTrue(BackgroundRun.wait(seconds: 60) {
            ((try? TrainTestData.metrics(out))?.filter { $0.event == "train" }.count ?? 0) >= 3
        }, run.output)
        let group = try XCTUnwrap(processGroup(ofBashRunning: script), run.output)
        XCTAssertNotEqual(group, getpgrp(), "never signal the test's own group")
        XCTAssertEqual(kill(-group, SIGINT), 0)
        XCTAssertEqual(run.exitStatus(within: 60), 1, run.output)
        XCTAssertTrue(run.stderr.contains("launch: stopped by a signal (exit status 1); not restarting"), run.output)
        XCTAssertFalse(run.stderr.contains("restart 1 of 2"), run.output)
        XCTAssertTrue(run.stdout.contains("stopped at iteration "), run.output)
        let saved = try XCTUnwrap(Checkpoint.read(path: out + "/ckpt.h5").state?.iteration)
        XCTAssertGreaterThan(saved, 3)
    }
}
