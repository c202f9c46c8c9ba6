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

    func testStalledRankIsAbortedByTheWatchdog() throws {
        let config = directory.appendingPathComponent("c.yaml").path
        try TrainTestData.config(dataDir: data, outDir: directory.appendingPathComponent("out").path)
            .write(toFile: config, atomically: true, encoding: .utf8)
        let environment = TrainTestData.environment.merging(["GPT_DIST_TEST_STALL_AT_STEP": "5"]) { $1 }
        let arguments = ["train", "--config", config, "--quiet", "--set", "collective_timeout_s=2"]
        let started = Date()
        let two = try mpirun(np: 2, "gpt-dist", arguments, environment: environment)
        XCTAssertLessThan(Date().timeIntervalSince(started), 60, "the job ends instead of hanging")
        XCTAssertNotEqual(two.status, 0)
        let line = try XCTUnwrap(two.stderr.split(separator: "\n").first { $0.hasPrefix("gpt-dist train: error: rank ") }, two.stderr)
        XCTAssertTrue(line.contains(": no progress for 2 s in "), String(line))
        XCTAssertTrue(line.contains(" of iteration 5; its collectives wait on ranks 0-1 of 2; aborting the job (collective_timeout_s 2)"), String(line))

        let one = try runProduct("gpt-dist", arguments, environment: environment)
        XCTAssertNotEqual(one.status, 0)
        XCTAssertTrue(one.stderr.hasPrefix("gpt-dist train: error: rank 0: no progress for 2 s in the start of iteration 5; aborting the job (collective_timeout_s 2)\n"), one.stderr)
    }

    /// A rank whose whole process hangs (SIGSTOP: its own watchdog cannot fire): the peer's
    /// watchdog names the collective it waits in.
    func testAFrozenPeerIsNamedByTheCollectiveItLeavesWaiting() throws {
        let config = directory.appendingPathComponent("c.yaml").path
        try TrainTestData.config(dataDir: data, outDir: directory.appendingPathComponent("out").path)
            .write(toFile: config, atomically: true, encoding: .utf8)
        let environment = TrainTestData.environment.merging(["GPT_DIST_TEST_FREEZE_AT_STEP": "5"]) { $1 }
        let started = Date()
        let two = try mpirun(np: 2, "gpt-dist", ["train", "--config", config, "--quiet", "--set", "collective_timeout_s=2"],
                             environment: environment)
        XCTAssertLessThan(Date().timeIntervalSince(started), 60, "the job ends instead of hanging")
        XCTAssertNotEqual(two.status, 0)
        let line = try XCTUnwrap(two.stderr.split(separator: "\n").first { $0.hasPrefix("gpt-dist train: error: rank ") }, two.stderr)
        // Rank 0 waits where iteration 5 first needs rank 1: in the allgather of the parameters
        // rank 1 updated at iteration 4 (ZeRO stage 1) if rank 1 froze before its part of it
        // went out, else, after its backward, in the first gradient bucket's reduce-scatter.
        let prefix = "gpt-dist train: error: rank 0: no progress for 2 s in "
        let waits = ["micro-step 1 of 1 (forward, backward, the gradient exchange) of iteration 5, waiting in the allgather of parameter bucket ",
                     "the wait for the step's gradient sums and norm of iteration 5, waiting in the reduce-scatter of gradient bucket "]
        XCTAssertTrue(waits.contains { line.hasPrefix(prefix + $0) }, String(line))
        XCTAssertTrue(line.hasSuffix("; its collectives wait on ranks 0-1 of 2; aborting the job (collective_timeout_s 2)"), String(line))
    }
}
