import Foundation
import GPT
import TestSupport
import XCTest

/// One rank of a 2-rank run killed (SIGKILL) mid-training and mid-save, and rank 0 and the last
/// rank of a 3-rank run killed together: the job ends promptly, non-zero, the log names the
/// ranks, the host and the iteration; nobody hangs in a collective, and a kill mid-save leaves
/// the previous checkpoint whole.
final class TrainDeadRankTests: XCTestCase {
    var directory: URL!
    var data: String!

    override func setUpWithError() throws {
        directory = try makeTemporaryDirectory("train-dead-rank")
        data = try TrainTestData.prepareDataset(in: directory)
    }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: directory) }

    /// `train` of `config` as `np` ranks under mpirun, in the background.
    func startJob(_ config: String, _ overrides: [String], np: Int = 2, environment: [String: String] = [:], name: String) throws -> BackgroundRun {
        let mpirun = try XCTUnwrap(mpirunURL)
        return try BackgroundRun(mpirun, ["-np", "\(np)", "--oversubscribe", "--bind-to", "none", productURL("gpt-dist").path,
                                          "train", "--config", config, "--quiet"] + overrides.flatMap { ["--set", $0] },
                                 environment: TrainTestData.environment.merging(environment) { $1 }, folder: directory, name: name)
    }

    /// Kills rank 1 of the job running `config`; then every rank must be gone within 30 s, with a
    /// non-zero status. Returns the job's standard error.
    func killRankOne(of job: BackgroundRun, config: String) throws -> String {
        let victim = try XCTUnwrap(RankProcesses.pid(rank: 1, marker: config), "rank 1 of the job")
        XCTAssertEqual(kill(victim, SIGKILL), 0)
        let status = job.exitStatus(within: 30)
        XCTAssertNotNil(status, "every rank must be gone within 30 s of the kill")
        XCTAssertNotEqual(status, 0)
        XCTAssertNil(RankProcesses.pid(rank: 0, marker: config), "rank 0 is gone too")
        let log = job.stderr
        XCTAssertTrue(log.contains("process rank 1 with PID"), log)
        XCTAssertTrue(log.contains("on node \(RankProcesses.shortHostName) exited on signal 9 (Killed)"), log)
        return log
    }

    /// The iteration rank 0's line names when mpirun's SIGTERM reaches it.
    func iterationNamedByRankZero(_ log: String) throws -> Int {
        let prefix = "gpt-dist train: rank 0 on \(RankProcesses.shortHostName): stop requested (SIGTERM) at iteration "
        let line = try XCTUnwrap(log.split(separator: "\n").first { $0.hasPrefix(prefix) }, log)
        return try XCTUnwrap(Int(line.dropFirst(prefix.count).prefix { $0.isNumber }), String(line))
    }

    /// The iteration of the survivor's line naming `dead` (e.g. "rank 1 (host vm) does not answer"),
    /// spoken by rank `speaker` after mpirun's SIGTERM.
    func iterationOfSilentRanks(_ log: String, speaker: Int, dead: String) throws -> Int {
        let prefix = "gpt-dist train: rank \(speaker) on \(RankProcesses.shortHostName): \(dead) at iteration "
        let line = try XCTUnwrap(log.split(separator: "\n").first { $0.hasPrefix(prefix) }, log)
        XCTAssertTrue(line.hasSuffix(" (died or hung; this rank got SIGTERM)"), String(line))
        return try XCTUnwrap(Int(line.dropFirst(prefix.count).prefix { $0.isNumber }), String(line))
    }

    func testKilledRankEndsTheJobPromptlyAndIsNamed() throws {
        let out = directory.appendingPathComponent("out").path
        let config = directory.appendingPathComponent("c.yaml").path
        try TrainTestData.config(dataDir: data, outDir: out).write(toFile: config, atomically: true, encoding: .utf8)
        let job = try startJob(config, ["max_iters=100000", "eval_interval=100000"], name: "mid-step")

        // Wait until training is under way (a few steps logged), then kill rank 1.
        BackgroundRun.wait(seconds: 60) { ((try? TrainTestData.metrics(out))?.filter { $0.event == "train" }.count ?? 0) >= 3 }
        let logged = try TrainTestData.metrics(out).filter { $0.event == "train" }.map(\.iter).max() ?? -1
        XCTAssertGreaterThanOrEqual(logged, 2)
        let log = try killRankOne(of: job, config: config)
        let lastLogged = try TrainTestData.metrics(out).filter { $0.event == "train" }.map(\.iter).max() ?? -1
        let named = try iterationNamedByRankZero(log)
        XCTAssertGreaterThanOrEqual(named, logged, log)
        XCTAssertLessThanOrEqual(named, lastLogged + 1, "the iteration in progress when the job was ended: \(log)")
        let host = RankProcesses.shortHostName
        XCTAssertEqual(try iterationOfSilentRanks(log, speaker: 0, dead: "rank 1 (host \(host)) does not answer"), named, log)
    }

    /// Rank 0 and the last rank of 3 killed at once (neither can say where the job was): rank 1,
    /// the one left, names both, their host and the iteration, within mpirun's second before
    /// its SIGKILL.
    func testRankZeroAndTheLastRankKilledTogetherAreNamedWithTheIteration() throws {
        let out = directory.appendingPathComponent("out").path
        let config = directory.appendingPathComponent("c.yaml").path
        try TrainTestData.config(dataDir: data, outDir: out).write(toFile: config, atomically: true, encoding: .utf8)
        let job = try startJob(config, ["max_iters=100000", "eval_interval=100000", "gradient_accumulation_steps=3"], np: 3,
                               name: "two-dead")
        BackgroundRun.wait(seconds: 60) { ((try? TrainTestData.metrics(out))?.filter { $0.event == "train" }.count ?? 0) >= 3 }
        let logged = try TrainTestData.metrics(out).filter { $0.event == "train" }.map(\.iter).max() ?? -1
        XCTAssertGreaterThanOrEqual(logged, 2)
        let victims = try [0, 2].map { try XCTUnwrap(RankProcesses.pid(rank: $0, marker: config), "rank \($0) of the job") }
        for victim in victims { XCTAssertEqual(kill(victim, SIGKILL), 0) }
        let status = job.exitStatus(within: 30)
        XCTAssertNotNil(status, "every rank must be gone within 30 s of the kill")
        XCTAssertNotEqual(status, 0)
        XCTAssertNil(RankProcesses.pid(rank: 1, marker: config), "rank 1 is gone too")
        let log = job.stderr, host = RankProcesses.shortHostName
        let lastLogged = try TrainTestData.metrics(out).filter { $0.event == "train" }.map(\.iter).max() ?? -1
        let named = try iterationOfSilentRanks(log, speaker: 1, dead: "rank 0 (host \(host)) and rank 2 (host \(host)) do not answer")
        XCTAssertGreaterThanOrEqual(named, logged, log)
        XCTAssertLessThanOrEqual(named, lastLogged + 1, "the iteration in progress when they died: \(log)")
        XCTAssertTrue(log.contains("on node \(host) exited on signal 9 (Killed)"), log)
    }

    /// Rank 1 killed while rank 0 is inside the checkpoint write (the model in ckpt.h5.tmp, the
    /// moments not yet): the job still ends promptly and non-zero, and ckpt.h5 is the previous
    /// save, byte for byte, and loads.
    func testKillMidSaveKeepsThePreviousCheckpoint() throws {
        let out = directory.appendingPathComponent("out").path
        let config = directory.appendingPathComponent("c.yaml").path
        try TrainTestData.config(dataDir: data, outDir: out).write(toFile: config, atomically: true, encoding: .utf8)
        let first = try startJob(config, ["max_iters=5"], name: "first")
        XCTAssertEqual(first.exitStatus(within: 120), 0, first.output)
        let checkpoint = out + "/ckpt.h5", temporary = checkpoint + ".tmp"
        let before = try Data(contentsOf: URL(fileURLWithPath: checkpoint))

        // Resumed at 5, it saves at 6 (checkpoint_interval 3); rank 0 pauses in that write.
        let job = try startJob(config, ["init_from=resume", "max_iters=100000", "eval_interval=100000", "checkpoint_interval=3"],
                               environment: ["GPT_DIST_TEST_PAUSE_IN_SAVE": "60"], name: "mid-save")
        XCTAssertTrue(BackgroundRun.wait(seconds: 60) { FileManager.default.fileExists(atPath: temporary) }, job.output)
        let killed = Date()
        let log = try killRankOne(of: job, config: config)
        XCTAssertLessThan(Date().timeIntervalSince(killed), 30, "rank 0 does not sit out its pause")
        XCTAssertEqual(try iterationNamedByRankZero(log), 6, log)
        // Rank 0's watchdog thread answers and asks while its main thread sits in the save.
        XCTAssertEqual(try iterationOfSilentRanks(log, speaker: 0, dead: "rank 1 (host \(RankProcesses.shortHostName)) does not answer"), 6, log)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: checkpoint)), before, "ckpt.h5 is the save before, untouched")
        let contents = try Checkpoint.read(path: checkpoint)
        XCTAssertEqual(contents.state?.iteration, 5)
        let sample = try runProduct("gpt-dist", ["sample", "--checkpoint", checkpoint, "--num-samples", "1", "--max-new-tokens", "5"])
        XCTAssertEqual(sample.status, 0, sample.output)
    }
}
