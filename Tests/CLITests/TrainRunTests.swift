import Foundation
import TestSupport
import XCTest

/// `gpt-dist train` end to end: learning, data parallelism that does not change the numbers,
/// exact resume, and the errors found before any work.
final class TrainRunTests: XCTestCase {
    var directory: URL!
    var data: String!

    override func setUpWithError() throws {
        directory = try makeTemporaryDirectory("train-run")
        data = try TrainTestData.prepareDataset(in: directory)
    }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: directory) }

    func writeConfig(_ name: String, out: String, extra: String = "") throws -> (config: String, out: String) {
        let outDir = directory.appendingPathComponent(out).path
        let path = directory.appendingPathComponent(name).path
        try TrainTestData.config(dataDir: data, outDir: outDir, extra: extra).write(toFile: path, atomically: true, encoding: .utf8)
        return (path, outDir)
    }

    func train(_ config: String, _ overrides: [String] = [], np: Int? = nil) throws -> ProcessResult {
        let arguments = ["train", "--config", config] + overrides.flatMap { ["--set", $0] }
        if let np { return try mpirun(np: np, "gpt-dist", arguments, environment: TrainTestData.environment) }
        return try runProduct("gpt-dist", arguments, environment: TrainTestData.environment)
    }

    func testQuickConfigTrainsAndLossFalls() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let out = directory.appendingPathComponent("quick").path
        let result = try runProduct("gpt-dist", ["train", "--config", root.appendingPathComponent("configs/quick.yaml").path,
                                                 "--set", "data_dir=\(data!)", "--set", "out_dir=\(out)",
                                                 "--set", "max_iters=60", "--set", "lr_decay_iters=60", "--set", "eval_interval=30"],
                                    environment: TrainTestData.environment)
        XCTAssertEqual(result.status, 0, result.output)
        let evals = try TrainTestData.metrics(out).filter { $0.event == "eval" }
        XCTAssertEqual(evals.map(\.iter), [0, 30, 60])
        let first = try XCTUnwrap(evals.first?.valLoss), last = try XCTUnwrap(evals.last?.valLoss)
        XCTAssertGreaterThan(first, 3.3, "an untrained model starts near ln(vocab size) = ln(35)")
        XCTAssertLessThan(last, first - 0.5, "val loss must fall by more than half a nat: \(evals.map { $0.valLoss! })")
        XCTAssertTrue(FileManager.default.fileExists(atPath: out + "/ckpt.h5"))
        XCTAssertFalse(FileManager.default.fileExists(atPath: out + "/ckpt.h5.tmp"))
        let svg = try String(contentsOfFile: out + "/loss.svg", encoding: .utf8)
        XCTAssertTrue(svg.contains("<polyline"))
        XCTAssertTrue(result.stdout.contains("step 60: train loss"), result.stdout)
        XCTAssertTrue(result.stdout.contains("done: 60 iterations"), result.stdout)
    }

    /// 2 ranks x 1 micro-step and 1 rank x 2 micro-steps see the same global batch (and the same
    /// dropout masks): the losses of 20 steps agree.
    func testTwoRanksMatchOneRank() throws {
        let one = try writeConfig("one.yaml", out: "one")
        let two = try writeConfig("two.yaml", out: "two")
        let a = try train(one.config)
        XCTAssertEqual(a.status, 0, a.output)
        let b = try train(two.config, np: 2)
        XCTAssertEqual(b.status, 0, b.output)
        assertLossesAgree(try TrainTestData.stepLosses(two.out), try TrainTestData.stepLosses(one.out),
                          iterations: 0..<20, relative: 1e-5)
        XCTAssertTrue(b.stdout.contains("ranks: 2 x 1 thread"), b.stdout)
        // Only rank 0 prints: one "done" line.
        XCTAssertEqual(b.stdout.components(separatedBy: "done: 20 iterations").count - 1, 1, b.stdout)
    }

    /// One rank of batch_size 4 and 2 ranks of batch_size 2 with 2 micro-steps read the same
    /// sequences at every step and every evaluation (the batch stream is laid out by the global
    /// batch, not by the ranks): without dropout, whose masks follow the micro-batches, the
    /// losses and the loss estimates agree.
    func testHalfBatchesOnTwoRanksMatchTheWholeBatchOnOne() throws {
        let whole = try writeConfig("whole.yaml", out: "whole")
        let halves = try writeConfig("halves.yaml", out: "halves")
        let a = try train(whole.config, ["dropout=0", "gradient_accumulation_steps=1"])
        XCTAssertEqual(a.status, 0, a.output)
        let b = try train(halves.config, ["dropout=0", "batch_size=2"], np: 2)
        XCTAssertEqual(b.status, 0, b.output)
        assertLossesAgree(try TrainTestData.stepLosses(halves.out), try TrainTestData.stepLosses(whole.out),
                          iterations: 0..<20, relative: 1e-5)
        let evalsWhole = try TrainTestData.metrics(whole.out).filter { $0.event == "eval" }
        let evalsHalves = try TrainTestData.metrics(halves.out).filter { $0.event == "eval" }
        XCTAssertEqual(evalsHalves.map(\.iter), [0, 10, 20])
        XCTAssertEqual(evalsWhole.map(\.iter), [0, 10, 20])
        for (h, w) in zip(evalsHalves, evalsWhole) {
            let a = try XCTUnwrap(h.valLoss), b = try XCTUnwrap(w.valLoss)
            XCTAssertEqual(a, b, accuracy: 1e-5 * b, "val estimate at \(h.iter)")
            XCTAssertEqual(h.loss, w.loss, accuracy: 1e-5 * w.loss, "train estimate at \(h.iter)")
        }
    }

    func testThreeRanksMatchOneRank() throws {
        let one = try writeConfig("one.yaml", out: "one3", extra: "")
        let three = try writeConfig("three.yaml", out: "three3")
        let a = try train(one.config, ["gradient_accumulation_steps=3"])
        XCTAssertEqual(a.status, 0, a.output)
        let b = try train(three.config, ["gradient_accumulation_steps=3"], np: 3)
        XCTAssertEqual(b.status, 0, b.output)
        assertLossesAgree(try TrainTestData.stepLosses(three.out), try TrainTestData.stepLosses(one.out),
                          iterations: 0..<20, relative: 1e-5)
    }

    /// 20 iterations in one run equal 10 + resume + 10, bit for bit on one rank.
    func testResumeContinuesExactly() throws {
        let full = try writeConfig("full.yaml", out: "full")
        let split = try writeConfig("split.yaml", out: "split")
        XCTAssertEqual(try train(full.config).status, 0)
        let first = try train(split.config, ["max_iters=10"])
        XCTAssertEqual(first.status, 0, first.output)
        let second = try train(split.config, ["init_from=resume"])
        XCTAssertEqual(second.status, 0, second.output)
        XCTAssertTrue(second.stdout.contains("resuming"), second.stdout)
        let a = try TrainTestData.stepLosses(full.out), b = try TrainTestData.stepLosses(split.out)
        for it in 0..<20 { XCTAssertEqual(a[it], b[it], "iteration \(it)") }
        let evalA = try TrainTestData.metrics(full.out).filter { $0.event == "eval" && $0.iter == 20 }
        let evalB = try TrainTestData.metrics(split.out).filter { $0.event == "eval" && $0.iter == 20 }
        XCTAssertEqual(evalA.first?.valLoss, evalB.first?.valLoss)
        XCTAssertNotNil(evalA.first?.valLoss)
    }

    /// A checkpoint written by 2 ranks resumes on 1 rank (and one written by 1 on 3) with the
    /// losses of an uninterrupted run.
    func testResumeAcrossRankCounts() throws {
        let full = try writeConfig("full.yaml", out: "fullx", extra: "")
        let split = try writeConfig("split.yaml", out: "splitx")
        XCTAssertEqual(try train(full.config, ["gradient_accumulation_steps=6"]).status, 0)
        let first = try train(split.config, ["max_iters=10", "gradient_accumulation_steps=6"], np: 2)
        XCTAssertEqual(first.status, 0, first.output)
        let second = try train(split.config, ["init_from=resume", "gradient_accumulation_steps=6"], np: 3)
        XCTAssertEqual(second.status, 0, second.output)
        assertLossesAgree(try TrainTestData.stepLosses(split.out), try TrainTestData.stepLosses(full.out),
                          iterations: 0..<20, relative: 1e-5)
    }

    func testAccumulationMustSplitOverRanks() throws {
        let c = try writeConfig("c.yaml", out: "c")
        let result = try train(c.config, np: 3)
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.stderr.contains("gpt-dist train: error: \(c.config):10: gradient_accumulation_steps: 2 is not divisible by the 3 ranks of this run"),
                      result.output)
        XCTAssertEqual(result.stderr.components(separatedBy: "gradient_accumulation_steps: 2 is not divisible").count - 1, 1,
                       "rank 0 alone reports: \(result.stderr)")
    }

    func testDataProblemsAreFoundBeforeWork() throws {
        let c = try writeConfig("c.yaml", out: "c")
        var result = try train(c.config, ["block_size=100000"])
        XCTAssertNotEqual(result.status, 0)
        XCTAssertEqual(result.stderr, "gpt-dist train: error: --set block_size: 100000 is longer than the val split of \(data!) (4001 tokens; a window needs block_size + 1)\n")
        result = try train(c.config, ["data_dir=\(directory.path)/missing"])
        XCTAssertNotEqual(result.status, 0)
        XCTAssertEqual(result.stderr, "gpt-dist train: error: --set data_dir: \(directory.path)/missing does not exist (run gpt-dist prepare first)\n")
        result = try train(c.config, ["init_from=resume"])
        XCTAssertNotEqual(result.status, 0)
        XCTAssertEqual(result.stderr, "gpt-dist train: error: \(directory.path)/c/ckpt.h5: no checkpoint to resume (init_from: resume reads out_dir/ckpt.h5)\n")
        XCTAssertFalse(FileManager.default.fileExists(atPath: c.out + "/ckpt.h5"))
    }
}
