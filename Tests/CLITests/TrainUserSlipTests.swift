import Foundation
import GPT
import TestSupport
import XCTest

/// A user's slips that used to lose work or train on garbage without a word, and
/// checkpoint_interval's saves whatever the val loss.
final class TrainUserSlipTests: XCTestCase {
    var directory: URL!
    var data: String!

    override func setUpWithError() throws {
        directory = try makeTemporaryDirectory("train-slips")
        data = try TrainTestData.prepareDataset(in: directory)
    }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: directory) }

    func config(_ out: String, extra: String = "") throws -> String {
        let path = directory.appendingPathComponent("c.yaml").path
        try TrainTestData.config(dataDir: data, outDir: out, extra: extra).write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func train(_ config: String, _ overrides: [String], np: Int? = nil) throws -> ProcessResult {
        let arguments = ["train", "--config", config, "--quiet"] + overrides.flatMap { ["--set", $0] }
        if let np { return try mpirun(np: np, "gpt-dist", arguments, environment: TrainTestData.environment) }
        return try runProduct("gpt-dist", arguments, environment: TrainTestData.environment)
    }

    /// A second run from scratch into an out_dir with a checkpoint is refused (on 2 ranks: one
    /// line from rank 0), leaving the checkpoint and metrics.jsonl as they were;
    /// overwrite_checkpoint lets it through.
    func testFromScratchIntoAnOutDirWithACheckpointIsRefused() throws {
        let out = directory.appendingPathComponent("out").path
        let c = try config(out)
        XCTAssertEqual(try train(c, ["max_iters=10"]).status, 0)
        let checkpoint = try Data(contentsOf: URL(fileURLWithPath: out + "/ckpt.h5"))
        let metrics = try String(contentsOfFile: out + "/metrics.jsonl", encoding: .utf8)
        let again = try train(c, ["max_iters=10"], np: 2)
        XCTAssertNotEqual(again.status, 0)
        let line = "gpt-dist train: error: \(c):2: out_dir: \(out) already holds a checkpoint (\(out)/ckpt.h5) that this run from scratch would replace: resume it (--set init_from=resume), choose another out_dir, or set overwrite_checkpoint: true"
        XCTAssertEqual(again.stderr.components(separatedBy: line).count - 1, 1, again.stderr)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: out + "/ckpt.h5")), checkpoint)
        XCTAssertEqual(try String(contentsOfFile: out + "/metrics.jsonl", encoding: .utf8), metrics)
        let overwrite = try train(c, ["max_iters=10", "overwrite_checkpoint=true", "seed=7"])
        XCTAssertEqual(overwrite.status, 0, overwrite.output)
        XCTAssertNotEqual(try Data(contentsOf: URL(fileURLWithPath: out + "/ckpt.h5")), checkpoint)
    }

    func testFailedStartLeavesNoMetricsFile() throws {
        let out = directory.appendingPathComponent("failed").path
        let result = try train(try config(out), ["block_size=100000"])
        XCTAssertNotEqual(result.status, 0)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out + "/metrics.jsonl"), result.output)
    }

    /// Fine-tuning (and resuming) on a dataset of another tokenizer is refused, as eval refuses it.
    func testCheckpointOfAnotherTokenizerIsRefused() throws {
        let out = directory.appendingPathComponent("tok").path
        let c = try config(out)
        XCTAssertEqual(try train(c, ["max_iters=10"]).status, 0)
        let other = directory.appendingPathComponent("other")
        try FileManager.default.createDirectory(at: other, withIntermediateDirectories: true)
        try TrainTestData.corpus().uppercased().write(to: other.appendingPathComponent("corpus.txt"), atomically: true, encoding: .utf8)
        let prepared = try runProduct("gpt-dist", ["prepare", "--input", other.appendingPathComponent("corpus.txt").path,
                                                   "--out", other.appendingPathComponent("data").path])
        XCTAssertEqual(prepared.status, 0, prepared.output)
        let otherData = other.appendingPathComponent("data").path
        let tune = try train(c, ["init_from=\(out)/ckpt.h5", "data_dir=\(otherData)", "out_dir=\(other.path)/tuned"])
        XCTAssertNotEqual(tune.status, 0)
        XCTAssertTrue(tune.stderr.hasPrefix("gpt-dist train: error: \(out)/ckpt.h5: its tokenizer (char, "), tune.stderr)
        XCTAssertTrue(tune.stderr.contains("differs from the one of \(otherData) (char, "), tune.stderr)
        XCTAssertEqual(tune.stderr.split(separator: "\n").count, 1, tune.stderr)
        let resume = try train(c, ["init_from=resume", "data_dir=\(otherData)"])
        XCTAssertNotEqual(resume.status, 0)
        XCTAssertTrue(resume.stderr.contains("its tokenizer (char, "), resume.stderr)
    }

    func testResumeSaysWhichSettingsTheCheckpointOverrides() throws {
        let out = directory.appendingPathComponent("shape").path
        let c = try config(out)
        XCTAssertEqual(try train(c, ["max_iters=10"]).status, 0)
        let resumed = try train(c, ["init_from=resume", "n_layer=6", "max_iters=12"])
        XCTAssertEqual(resumed.status, 0, resumed.output)
        XCTAssertTrue(resumed.stdout.contains("the model's shape comes from \(out)/ckpt.h5, not the settings: n_layer 6 -> 2 (--set n_layer)"),
                      resumed.stdout)
        let plain = try train(c, ["init_from=resume", "max_iters=14"])
        XCTAssertFalse(plain.stdout.contains("the model's shape comes from"), plain.stdout)
    }

    /// checkpoint_interval saves whatever the val loss (here always_save_checkpoint is off), on
    /// every rank at the same iterations.
    func testCheckpointIntervalSavesWhateverTheValLoss() throws {
        let out = directory.appendingPathComponent("interval").path
        let c = try config(out)
        let result = try train(c, ["always_save_checkpoint=false", "checkpoint_interval=3", "max_iters=7",
                                   "keep_last=5"], np: 2)
        XCTAssertEqual(result.status, 0, result.output)
        // Evaluations at 0 and 7 (the end) save only when val improves; iterations 3 and 6 save anyway.
        for it in [3, 6] {
            XCTAssertEqual(try Checkpoint.read(path: out + "/ckpt-\(it).h5").state?.iteration, it)
        }
        XCTAssertEqual(result.stdout.components(separatedBy: "saving checkpoint to \(out)/ckpt.h5 (checkpoint_interval 3)").count - 1, 2,
                       result.stdout)
        // An evaluation that saved is not saved again by the interval (at 10).
        let both = directory.appendingPathComponent("both").path
        let again = try train(c, ["out_dir=\(both)", "checkpoint_interval=5", "keep_last=5"], np: 2)
        XCTAssertEqual(again.status, 0, again.output)
        XCTAssertEqual(again.stdout.components(separatedBy: "(checkpoint_interval 5)").count - 1, 2, again.stdout)  // 5 and 15
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: both).filter { $0.hasPrefix("ckpt-") }.sorted(),
                       ["ckpt-10.h5", "ckpt-15.h5", "ckpt-20.h5", "ckpt-5.h5", "ckpt-best.h5"])
    }

    func testGetShakespeareRefusesAMissingPathAndKeepsExistingData() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let script = root.appendingPathComponent("launch/get_shakespeare.sh")
        let dest = directory.appendingPathComponent("shakespeare/input.txt")
        try FileManager.default.createDirectory(at: dest.deletingLastPathComponent(), withIntermediateDirectories: true)
        try "my own data\n".write(to: dest, atomically: true, encoding: .utf8)
        let bash = URL(fileURLWithPath: "/bin/bash")
        let typo = try TestSupport.run(bash, [script.path, "/typo/path"], environment: ["DEST": dest.path])
        XCTAssertEqual(typo.status, 1)
        XCTAssertEqual(typo.stderr, "get_shakespeare: error: /typo/path: no such non-empty file (nothing was changed)\n")
        let again = try TestSupport.run(bash, [script.path], environment: ["DEST": dest.path])
        XCTAssertEqual(again.status, 0, again.output)
        XCTAssertTrue(again.stdout.contains("already exists (12 bytes); kept"), again.stdout)
        XCTAssertEqual(try String(contentsOf: dest, encoding: .utf8), "my own data\n")
    }
}
