import Foundation
import TestSupport
import XCTest

/// collective_timeout_s: a rank that stalls (GPT_DIST_TEST_STALL_AT_STEP) makes the watchdog end
/// the job with one line naming the rank, what it waited in and the iteration, instead of a hang.
final class TrainWatchdogTests: XCTestCase {
    var directory: URL!
    var data: String!

    override func setUpWithError() throws {
        directory = try makeTemporaryDirectory("train-watchdog")
        data = try TrainTestData.prepareDataset(in: directory)
    }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: directory) }

    /// The watchdog lines of a job's standard error ("gpt-dist train: error: rank R: ...").
    func watchdogLines(_ stderr: String) -> [String] {
        stderr.split(separator: "\n").map(String.init).filter { $0.hasPrefix("gpt-dist train: error: rank ") }
    }

    /// Rank 1 stalls outside any collective at the start of iteration 5. Whichever watchdog fires
    /// first ends the job: rank 1's says every other rank answers from inside a collective; rank
    /// 0's names rank 1 and what it is in.
    func testStalledRankIsAbortedByTheWatchdog() throws {
        let config = directory.appendingPathComponent("c.yaml").path
        try TrainTestData.config(dataDir: data, outDir: directory.appendingPathComponent("out").path)
            .write(toFile: config, atomically: true, encoding: .utf8)
        let environment = TrainTestData.environment.merging(["GPT_DIST_TEST_STALL_AT_STEP": "5"]) { $1 }
        let arguments = ["train", "--config", config, "--quiet", "--set", "collective_timeout_s=5"]
        let started = Date()
        let two = try mpirun(np: 2, "gpt-dist", arguments, environment: environment)
        XCTAssertLessThan(Date().timeIntervalSince(started), 60, "the job ends instead of hanging")
        XCTAssertNotEqual(two.status, 0)
        let lines = watchdogLines(two.stderr)
        XCTAssertFalse(lines.isEmpty, two.stderr)
        let host = RankProcesses.shortHostName, end = "; aborting the job (collective_timeout_s 5)"
        for line in lines {
            if line.hasPrefix("gpt-dist train: error: rank 1: ") {
                XCTAssertEqual(line, "gpt-dist train: error: rank 1: no progress for 5 s in the start of iteration 5; every other rank answers, waiting in a collective" + end)
            } else {
                XCTAssertTrue(line.hasPrefix("gpt-dist train: error: rank 0: no progress for 5 s in "), line)
                XCTAssertTrue(line.contains(" of iteration 5, waiting in the "), line)
                XCTAssertTrue(line.hasSuffix("; waits on rank 1 (host \(host)): in the start of iteration 5" + end), line)
            }
        }

        let one = try runProduct("gpt-dist", arguments, environment: environment)
        XCTAssertNotEqual(one.status, 0)
        XCTAssertTrue(one.stderr.hasPrefix("gpt-dist train: error: rank 0: no progress for 5 s in the start of iteration 5; aborting the job (collective_timeout_s 5)\n"), one.stderr)
    }

    /// A rank whose whole process hangs (SIGSTOP: its own watchdog cannot answer or fire), rank 2
    /// of 3: its peers' watchdogs name it, not responding, with the collective each waits in;
    /// rank 1, which waits as rank 0 does, is named by no one.
    func testAFrozenPeerIsNamedByTheCollectiveItLeavesWaiting() throws {
        let config = directory.appendingPathComponent("c.yaml").path
        try TrainTestData.config(dataDir: data, outDir: directory.appendingPathComponent("out").path)
            .write(toFile: config, atomically: true, encoding: .utf8)
        let environment = TrainTestData.environment.merging(["GPT_DIST_TEST_FREEZE_AT_STEP": "5"]) { $1 }
        let started = Date()
        let three = try mpirun(np: 3, "gpt-dist", ["train", "--config", config, "--quiet", "--set", "collective_timeout_s=5",
                                                   "--set", "gradient_accumulation_steps=3"],
                               environment: environment)
        XCTAssertLessThan(Date().timeIntervalSince(started), 60, "the job ends instead of hanging")
        XCTAssertNotEqual(three.status, 0)
        let lines = watchdogLines(three.stderr)
        let host = RankProcesses.shortHostName, end = "; aborting the job (collective_timeout_s 5)"
        let frozen = "; waits on rank 2 (host \(host)): not responding" + end
        XCTAssertTrue(lines.contains { $0.hasSuffix(frozen) }, three.stderr)
        for line in lines {
            XCTAssertTrue(line.hasPrefix("gpt-dist train: error: rank 0: no progress for 5 s in ")
                          || line.hasPrefix("gpt-dist train: error: rank 1: no progress for 5 s in "), line)
            // Rank 0 and rank 1 wait where iteration 5 first needs rank 2: in the allgather of the
            // parameters it updated at iteration 4 (ZeRO stage 1) if it froze before its part
            // went out, else in the first gradient bucket's reduce-scatter.
            XCTAssertTrue(line.contains(" of iteration 5, waiting in the allgather of parameter bucket ")
                          || line.contains(" of iteration 5, waiting in the reduce-scatter of gradient bucket "), line)
            // The one who aborts last may hear rank 2 once mpirun continues it to end the job.
            XCTAssertTrue(line.hasSuffix(frozen) || line.hasSuffix("; waits on rank 2 (host \(host)): in the start of iteration 5" + end), line)
            XCTAssertFalse(line.contains("rank 0 (host") || line.contains("rank 1 (host"), "a rank that waits as it should is not named: \(line)")
        }
    }

    /// A run stopped from outside (Ctrl-Z, a suspended job) for longer than collective_timeout_s
    /// and then continued is not a hang: the SIGCONT starts the wait again, and the run ends as
    /// usual.
    func testAStoppedAndContinuedRunIsNotTakenForAHang() throws {
        let out = directory.appendingPathComponent("out").path
        let config = directory.appendingPathComponent("c.yaml").path
        try TrainTestData.config(dataDir: data, outDir: out).replacingOccurrences(of: "max_iters: 20", with: "max_iters: 30")
            .replacingOccurrences(of: "lr_decay_iters: 20", with: "lr_decay_iters: 30")
            .replacingOccurrences(of: "eval_interval: 10", with: "eval_interval: 100")
            .write(toFile: config, atomically: true, encoding: .utf8)
        let process = Process()
        process.executableURL = productURL("gpt-dist")
        process.arguments = ["train", "--config", config, "--quiet", "--set", "collective_timeout_s=2"]
        process.environment = childEnvironment(TrainTestData.environment)
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        // Stop it once it trains (a few records in metrics.jsonl), for twice the timeout.
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline, ((try? TrainTestData.metrics(out))?.count ?? 0) < 3 { Thread.sleep(forTimeInterval: 0.05) }
        let before = try TrainTestData.metrics(out).count
        kill(process.processIdentifier, SIGSTOP)
        Thread.sleep(forTimeInterval: 4)
        kill(process.processIdentifier, SIGCONT)
        process.waitUntilExit()
        let stderr = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        XCTAssertEqual(process.terminationStatus, 0, stderr)
        XCTAssertFalse(stderr.contains("no progress"), stderr)
        let records = try TrainTestData.metrics(out)
        XCTAssertLessThan(before, 20, "stopped well before the end")
        XCTAssertEqual(records.filter { $0.event == "train" }.last?.iter, 29, "trained to the end")
    }
}
