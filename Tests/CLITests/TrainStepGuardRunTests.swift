import Foundation
import GPT
import TestSupport
import XCTest

/// The NaN / spike guard end to end (GPT_DIST_TEST_POISON_STEP makes the last rank's loss and
/// gradients NaN at chosen iterations): a skipped update leaves the parameters and the moments
/// exactly as they were on every rank, it is logged and counted, and too many in a row stop the
/// run without touching the checkpoint.
final class TrainStepGuardRunTests: XCTestCase {
    var directory: URL!
    var data: String!

    override func setUpWithError() throws {
        directory = try makeTemporaryDirectory("train-guard")
        data = try TrainTestData.prepareDataset(in: directory)
    }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: directory) }

    /// Trains with `overrides` (dropout off, 2 global micro-steps), the poison hook at `poison`.
    func train(_ name: String, np: Int?, poison: String?, _ overrides: [String]) throws -> (result: ProcessResult, out: String) {
        let out = directory.appendingPathComponent(name).path
        let config = directory.appendingPathComponent(name + ".yaml").path
        try TrainTestData.config(dataDir: data, outDir: out).write(toFile: config, atomically: true, encoding: .utf8)
        let arguments = ["train", "--config", config, "--quiet"] + (["dropout=0"] + overrides).flatMap { ["--set", $0] }
        var environment = TrainTestData.environment
        if let poison { environment["GPT_DIST_TEST_POISON_STEP"] = poison }
        let result = try np.map { try mpirun(np: $0, "gpt-dist", arguments, environment: environment) }
            ?? runProduct("gpt-dist", arguments, environment: environment)
        return (result, out)
    }

    /// The `skip` records of a run's metrics.jsonl.
    func skipRecords(_ out: String) throws -> [[String: Any]] {
        let text = try String(contentsOfFile: out + "/metrics.jsonl", encoding: .utf8)
        return try text.split(separator: "\n").compactMap { line in
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            return object?["event"] as? String == "skip" ? object : nil
        }
    }

    /// Steps 0-2 then a poisoned step 3 end with the very parameters, moments and AdamW step count
    /// of a run that stopped after step 2, on one rank and on two (ZeRO stage 1: each rank skips
    /// its own shard's update, and the shards agree).
    func assertPoisonedStepIsSkipped(np: Int?) throws {
        let clean = try train("clean", np: np, poison: nil, ["max_iters=3"])
        XCTAssertEqual(clean.result.status, 0, clean.result.output)
        let poisoned = try train("poisoned", np: np, poison: "3", ["max_iters=4"])
        XCTAssertEqual(poisoned.result.status, 0, poisoned.result.output)
        XCTAssertTrue(poisoned.result.stdout.contains("iteration 3: update skipped, its loss is nan (1 in a row, 1 in this run; max_skipped_steps 8)"),
                      poisoned.result.stdout)
        XCTAssertTrue(poisoned.result.stdout.contains("done: 4 iterations, best val loss"), poisoned.result.stdout)
        XCTAssertTrue(poisoned.result.stdout.contains("1 update skipped"), poisoned.result.stdout)

        let skips = try skipRecords(poisoned.out)
        XCTAssertEqual(skips.count, 1)
        XCTAssertEqual((skips.first?["iter"] as? NSNumber)?.intValue, 3)
        XCTAssertEqual(skips.first?["reason"] as? String, "loss_not_finite")
        XCTAssertEqual((skips.first?["skipped"] as? NSNumber)?.intValue, 1)
        XCTAssertTrue(skips.first?["loss"] is NSNull)
        // The skipped step logs no train record; the others do.
        XCTAssertEqual(try TrainTestData.stepLosses(poisoned.out).keys.sorted(), [0, 1, 2])

        let a = try Checkpoint.read(path: clean.out + "/ckpt.h5"), b = try Checkpoint.read(path: poisoned.out + "/ckpt.h5")
        XCTAssertEqual(b.state?.iteration, 4)
        XCTAssertTrue(b.parameters.allSatisfy(\.isFinite))
        XCTAssertEqual(b.parameters, a.parameters, "the skipped update left the parameters as they were")
        let moments = try XCTUnwrap(b.optimizer)
        XCTAssertTrue(moments.m.allSatisfy(\.isFinite) && moments.v.allSatisfy(\.isFinite))
        XCTAssertEqual(moments, a.optimizer, "moments and AdamW's step count untouched")
        XCTAssertEqual(moments.stepCount, 3)
    }

    func testPoisonedStepIsSkippedOnOneRank() throws {
        try assertPoisonedStepIsSkipped(np: nil)
    }

    func testPoisonedStepIsSkippedOnTwoRanks() throws {
        try assertPoisonedStepIsSkipped(np: 2)
    }

    /// max_skipped_steps bad steps in a row stop the run (non-zero, one line from rank 0) and
    /// leave the checkpoint it resumed from as it was.
    func assertConsecutiveSkipsStop(np: Int?) throws {
        let first = try train("run", np: np, poison: nil, ["max_iters=2"])
        XCTAssertEqual(first.result.status, 0, first.result.output)
        let checkpoint = first.out + "/ckpt.h5"
        let before = try Data(contentsOf: URL(fileURLWithPath: checkpoint))
        let second = try train("run", np: np, poison: "3-20", ["init_from=resume", "max_skipped_steps=3"])
        XCTAssertNotEqual(second.result.status, 0, second.result.output)
        let line = "gpt-dist train: error: stopping at iteration 5: 3 updates in a row skipped (max_skipped_steps: 3), the last because its loss is nan;"
        XCTAssertEqual(second.result.stderr.components(separatedBy: line).count - 1, 1, second.result.stderr)
        XCTAssertFalse(second.result.stderr.contains("rank 1"), second.result.stderr)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: checkpoint)), before, "the checkpoint is untouched")
        XCTAssertEqual(try skipRecords(first.out).compactMap { ($0["iter"] as? NSNumber)?.intValue }, [3, 4, 5])
        XCTAssertEqual(try skipRecords(first.out).compactMap { ($0["skipped"] as? NSNumber)?.intValue }, [1, 2, 3])
    }

    func testConsecutiveSkipsStopTheRunOnOneRank() throws {
        try assertConsecutiveSkipsStop(np: nil)
    }

    func testConsecutiveSkipsStopTheRunOnTwoRanks() throws {
        try assertConsecutiveSkipsStop(np: 2)
    }
}
