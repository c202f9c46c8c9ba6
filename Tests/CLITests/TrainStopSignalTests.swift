import Foundation
import GPT
import TestSupport
import XCTest

/// Ctrl-C, as a real SIGINT to the process: one rank and `mpirun -np 2` stop after saving a
/// checkpoint with the same exit status, and a second SIGINT during the final save abandons it
/// with one line, leaving the previous checkpoint as it was and no temporary file.
final class TrainStopSignalTests: XCTestCase {
    /// The status of a run stopped by a signal (docs/reliability.md).
    static let stoppedStatus: Int32 = 1

    var directory: URL!
    var data: String!

    override func setUpWithError() throws {
        directory = try makeTemporaryDirectory("train-stop-signal")
        data = try TrainTestData.prepareDataset(in: directory)
    }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: directory) }

    func writeConfig(out: String) throws -> String {
        let config = directory.appendingPathComponent("c-\(UUID().uuidString.prefix(8)).yaml").path
        try TrainTestData.config(dataDir: data, outDir: out).write(toFile: config, atomically: true, encoding: .utf8)
        return config
    }

    /// `train` alone (np nil) or under mpirun, in the background.
    func start(_ config: String, _ overrides: [String], np: Int?, environment: [String: String] = [:], name: String) throws -> BackgroundRun {
        let train = ["train", "--config", config, "--quiet"] + overrides.flatMap { ["--set", $0] }
        let env = TrainTestData.environment.merging(environment) { $1 }
        guard let np else { return try BackgroundRun(productURL("gpt-dist"), train, environment: env, folder: directory, name: name) }
        let mpirun = try XCTUnwrap(mpirunURL)
        return try BackgroundRun(mpirun, ["-np", "\(np)", "--oversubscribe", "--bind-to", "none", productURL("gpt-dist").path] + train,
                                 environment: env, folder: directory, name: name)
    }

    /// Waits for `count` logged steps in `out`, returns the last logged iteration.
    func waitForSteps(_ count: Int, in out: String, of run: BackgroundRun) throws -> Int {
        let steps = { (try? TrainTestData.metrics(out))?.filter { $0.event == "train" }.map(\.iter) ?? [] }
        XCTAssertTrue(BackgroundRun.wait(seconds: 60) { steps().count >= count }, run.output)
        return try XCTUnwrap(steps().max())
    }

    /// SIGINT `run` (the gpt-dist process, or mpirun) once training is under way; it must stop
    /// with the stopped status, a checkpoint of the iteration it stopped at, and say so.
    func assertStopsAndSaves(np: Int?) throws {
        let out = directory.appendingPathComponent("out-\(np ?? 1)").path
        let config = try writeConfig(out: out)
        let run = try start(config, ["max_iters=100000", "eval_interval=100000"], np: np, name: "stop-\(np ?? 1)")
        let logged = try waitForSteps(3, in: out, of: run)
        XCTAssertEqual(kill(run.pid, SIGINT), 0)
        XCTAssertEqual(run.exitStatus(within: 60), Self.stoppedStatus, run.output)

        let speaker = np == nil ? "gpt-dist train" : "gpt-dist train: rank 0 on \(RankProcesses.shortHostName)"
        let signal = np == nil ? "SIGINT" : "SIGTERM"  // mpirun passes a SIGINT on to its ranks as SIGTERM
        let notice = "\(speaker): stop requested (\(signal)) at iteration "
        let line = try XCTUnwrap(run.stderr.split(separator: "\n").first { $0.hasPrefix(notice) }, run.output)
        let named = try XCTUnwrap(Int(line.dropFirst(notice.count).prefix { $0.isNumber }), String(line))
        XCTAssertGreaterThan(named, logged)
        XCTAssertTrue(line.hasSuffix(": finishing this step, then saving a checkpoint and stopping (a second signal stops at once)"), String(line))

        let saved = try XCTUnwrap(Checkpoint.read(path: out + "/ckpt.h5").state?.iteration)
        if np == nil {
            XCTAssertEqual(saved, named + 1, "the step in progress is finished, then saved")
        } else {
            // The ranks agree through the step's allreduce: a signal after it counts in the next step.
            XCTAssertTrue(saved == named + 1 || saved == named + 2, "saved at \(saved), signalled at \(named)")
        }
        XCTAssertTrue(run.stdout.contains("stopped at iteration \(saved): checkpoint saved to \(out)/ckpt.h5 (resume with --set init_from=resume)"), run.output)
        XCTAssertTrue(run.stdout.contains("stopped: \(saved) iterations"), run.output)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out + "/ckpt.h5.tmp"))
    }

    func testSigintStopsOneRankWithACheckpoint() throws {
        try assertStopsAndSaves(np: nil)
    }

    func testSigintToMpirunStopsTwoRanksWithTheSameStatus() throws {
        try assertStopsAndSaves(np: 2)
    }

    /// A first SIGINT starts the final save (which the test hook holds open); a second one
    /// abandons it at once: one line, the stopped status, the temporary file gone and ckpt.h5
    /// the previous save byte for byte.
    func testSecondSigintAbandonsTheFinalSave() throws {
        let out = directory.appendingPathComponent("out").path
        let config = try writeConfig(out: out)
        let first = try start(config, ["max_iters=5"], np: nil, name: "first")
        XCTAssertEqual(first.exitStatus(within: 120), 0, first.output)
        let checkpoint = out + "/ckpt.h5", temporary = checkpoint + ".tmp"
        let before = try Data(contentsOf: URL(fileURLWithPath: checkpoint))

        let run = try start(config, ["init_from=resume", "max_iters=100000", "eval_interval=100000"], np: nil,
                            environment: ["GPT_DIST_TEST_PAUSE_IN_SAVE": "60"], name: "second")
        _ = try waitForSteps(7, in: out, of: run)  // 5 train records of the first run, 2 of this one
        XCTAssertEqual(kill(run.pid, SIGINT), 0)
        XCTAssertTrue(BackgroundRun.wait(seconds: 30) { FileManager.default.fileExists(atPath: temporary) }, run.output)
        let second = Date()
        XCTAssertEqual(kill(run.pid, SIGINT), 0)
        XCTAssertEqual(run.exitStatus(within: 20), Self.stoppedStatus, run.output)
        XCTAssertLessThan(Date().timeIntervalSince(second), 20)

        let lines = run.stderr.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.count, 2, run.output)
        XCTAssertTrue(lines.first?.hasPrefix("gpt-dist train: stop requested (SIGINT) at iteration ") == true, run.output)
        XCTAssertEqual(lines.last, "gpt-dist train: second stop signal: abandoning the save in progress (its temporary file removed; the previous checkpoint stays as it was)")
        XCTAssertFalse(FileManager.default.fileExists(atPath: temporary))
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: checkpoint)), before)
        XCTAssertEqual(try Checkpoint.read(path: checkpoint).state?.iteration, 5)
    }
}
