import Foundation
import GPT
import TestSupport
import XCTest

/// `launch/local.sh --max-restarts N`: a run whose rank dies is started again from the newest
/// checkpoint and ends with the parameters of a run that never failed; a failure that repeats
/// stops the restarts with the list of causes. Ctrl-C to the launcher reaches the ranks (as
/// SIGUSR1 through mpirun): a save slower than mpirun's one second completes, a second Ctrl-C
/// abandons it, the status is 1 and nothing restarts.
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

    func launch(_ name: String, _ options: [String], environment: [String: String] = [:],
                overrides: [String] = []) throws -> (ProcessResult, String) {
        let out = directory.appendingPathComponent(name).path
        let config = directory.appendingPathComponent(name + ".yaml").path
        try TrainTestData.config(dataDir: data, outDir: out).write(toFile: config, atomically: true, encoding: .utf8)
        var env = TrainTestData.environment.merging(environment) { $1 }
        env["GPT_DIST"] = productURL("gpt-dist").path
        env["RESTART_DELAY"] = "0"
        let result = try TestSupport.run(URL(fileURLWithPath: "/bin/bash"),
                                         [script] + options + ["2", config, "--quiet"] + overrides.flatMap { ["--set", $0] },
                                         environment: env)
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

    /// `launch/local.sh OPTIONS 2 CONFIG --quiet OVERRIDES` in a process group of its own (as a
    /// shell runs a foreground job), in the background; returns the run, its out_dir and group.
    func startInGroup(_ name: String, _ options: [String], overrides: [String], environment: [String: String] = [:],
                      afterSteps steps: Int = 3) throws -> (BackgroundRun, String, pid_t) {
        let out = directory.appendingPathComponent(name).path
        let config = directory.appendingPathComponent(name + ".yaml").path
        try TrainTestData.config(dataDir: data, outDir: out).write(toFile: config, atomically: true, encoding: .utf8)
        var env = TrainTestData.environment.merging(environment) { $1 }
        env["GPT_DIST"] = productURL("gpt-dist").path
        env["RESTART_DELAY"] = "0"
        // setsid: a process group of its own, as a shell gives a foreground job.
        let run = try BackgroundRun(URL(fileURLWithPath: "/usr/bin/setsid"),
                                    ["--wait", "/bin/bash", script] + options + ["2", config, "--quiet"]
                                        + overrides.flatMap { ["--set", $0] },
                                    environment: env, folder: directory, name: name)
        XCTAssertTrue(BackgroundRun.wait(seconds: 60) {
            ((try? TrainTestData.metrics(out))?.filter { $0.event == "train" }.count ?? 0) >= steps
        }, run.output)
        let group = try XCTUnwrap(processGroup(ofBashRunning: script), run.output)
        XCTAssertNotEqual(group, getpgrp(), "never signal the test's own group")
        return (run, out, group)
    }

    /// Ctrl-C as a terminal sends it (SIGINT to the launcher's whole process group) stops the
    /// run with its checkpoint, and `--max-restarts` does not start it again.
    func testCtrlCIsNotRestarted() throws {
        let (run, out, group) = try startInGroup("ctrl-c", ["--max-restarts", "2"], overrides: ["max_iters=100000", "eval_interval=100000"])
        XCTAssertEqual(kill(-group, SIGINT), 0)
        XCTAssertEqual(run.exitStatus(within: 60), 1, run.output)
        XCTAssertTrue(run.stderr.contains("launch: stopped by a signal (exit status 1); not restarting"), run.output)
        XCTAssertFalse(run.stderr.contains("restart 1 of 2"), run.output)
        XCTAssertTrue(run.stdout.contains("stopped at iteration "), run.output)
        let saved = try XCTUnwrap(Checkpoint.read(path: out + "/ckpt.h5").state?.iteration)
        XCTAssertGreaterThan(saved, 3)
    }

    /// The iteration in rank `rank`'s line for the launcher's SIGUSR1.
    func stopIteration(_ log: String, rank: Int) throws -> Int {
        let prefix = "gpt-dist train: rank \(rank) on \(RankProcesses.shortHostName): stop requested (SIGUSR1) at iteration "
        let line = try XCTUnwrap(log.split(separator: "\n").first { $0.hasPrefix(prefix) }, log)
        XCTAssertTrue(line.hasSuffix(": finishing this step, then saving a checkpoint and stopping (a second signal stops at once)"), String(line))
        return try XCTUnwrap(Int(line.dropFirst(prefix.count).prefix { $0.isNumber }), String(line))
    }

    /// A save slower than mpirun's one second between its SIGTERM and its SIGKILL (the test hook
    /// holds rank 0 in it for 3 s) completes under the launcher after a Ctrl-C: status 1, both
    /// ranks' lines, the checkpoint of the iteration after the signal's (or the next).
    func testASaveSlowerThanMpirunsSecondCompletesOnCtrlC() throws {
        let (run, out, group) = try startInGroup("slow-save", [], overrides: ["max_iters=100000", "eval_interval=100000"],
                                                 environment: ["GPT_DIST_TEST_PAUSE_IN_SAVE": "3"])
        let signalled = Date()
        XCTAssertEqual(kill(-group, SIGINT), 0)
        XCTAssertEqual(run.exitStatus(within: 60), 1, run.output)
        XCTAssertGreaterThan(Date().timeIntervalSince(signalled), 3, "the save took its 3 s")
        let log = run.stderr
        XCTAssertTrue(log.contains("launch: SIGINT: asking the ranks to finish the step, save a checkpoint and stop (SIGUSR1 through mpirun; they have --save-grace 120 s, a second Ctrl-C stops them at once)"), log)
        let named = try stopIteration(log, rank: 0)
        XCTAssertEqual(try stopIteration(log, rank: 1), named, log)
        XCTAssertTrue(log.contains("launch: stopped by a signal (exit status 1); not restarting"), log)
        let saved = try XCTUnwrap(Checkpoint.read(path: out + "/ckpt.h5").state?.iteration)
        XCTAssertTrue(saved == named + 1 || saved == named + 2, "saved at \(saved), signalled at \(named)")
        XCTAssertTrue(run.stdout.contains("stopped at iteration \(saved): checkpoint saved to \(out)/ckpt.h5"), run.output)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out + "/ckpt.h5.tmp"))
    }

    /// Two Ctrl-Cs, the second while rank 0 is inside the final save (held open by the test hook):
    /// the ranks say they abandon it, the launcher exits 1 at once, no temporary file is left and
    /// ckpt.h5 is the save before, byte for byte.
    func testSecondCtrlCUnderTheLauncherAbandonsTheSave() throws {
        let name = "second-ctrl-c"
        let (first, _) = try launch(name, [], environment: [:], overrides: ["max_iters=5"])
        XCTAssertEqual(first.status, 0, first.output)
        let checkpoint = directory.appendingPathComponent(name).path + "/ckpt.h5", temporary = checkpoint + ".tmp"
        let before = try Data(contentsOf: URL(fileURLWithPath: checkpoint))
        let (run, _, group) = try startInGroup(name, [], overrides: ["init_from=resume", "max_iters=100000", "eval_interval=100000"],
                                               environment: ["GPT_DIST_TEST_PAUSE_IN_SAVE": "60"], afterSteps: 7)
        XCTAssertEqual(kill(-group, SIGINT), 0)
        XCTAssertTrue(BackgroundRun.wait(seconds: 30) { FileManager.default.fileExists(atPath: temporary) }, run.output)
        let second = Date()
        XCTAssertEqual(kill(-group, SIGINT), 0)
        XCTAssertEqual(run.exitStatus(within: 20), 1, run.output)
        XCTAssertLessThan(Date().timeIntervalSince(second), 20)
        let log = run.stderr, host = RankProcesses.shortHostName
        XCTAssertEqual(try stopIteration(log, rank: 0), try stopIteration(log, rank: 1), log)
        XCTAssertTrue(log.contains("launch: SIGINT: stopping the ranks at once (SIGUSR1 again: a save in progress is abandoned, the previous checkpoint stays)"), log)
        for rank in [0, 1] {
            XCTAssertTrue(log.contains("gpt-dist train: rank \(rank) on \(host): second stop signal: abandoning the save in progress (its temporary file removed; the previous checkpoint stays as it was)\n"), log)
        }
        XCTAssertTrue(log.contains("launch: stopped by a signal (exit status 1); not restarting"), log)
        XCTAssertFalse(FileManager.default.fileExists(atPath: temporary))
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: checkpoint)), before)
        XCTAssertEqual(try Checkpoint.read(path: checkpoint).state?.iteration, 5)
    }
}
