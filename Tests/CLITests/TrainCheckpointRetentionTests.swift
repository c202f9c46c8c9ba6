import Foundation
import GPT
import TestSupport
import XCTest

/// keep_last's retained checkpoints, the checksum of every dataset verified on load, and resume
/// falling back to the newest checkpoint that verifies.
final class TrainCheckpointRetentionTests: XCTestCase {
    var directory: URL!
    var data: String!

    override func setUpWithError() throws {
        directory = try makeTemporaryDirectory("train-retention")
        data = try TrainTestData.prepareDataset(in: directory)
    }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: directory) }

    func train(_ out: String, _ overrides: [String]) throws -> ProcessResult {
        let config = directory.appendingPathComponent("c.yaml").path
        try TrainTestData.config(dataDir: data, outDir: out).write(toFile: config, atomically: true, encoding: .utf8)
        return try runProduct("gpt-dist", ["train", "--config", config, "--quiet"] + overrides.flatMap { ["--set", $0] },
                              environment: TrainTestData.environment)
    }

    func names(_ out: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: out).filter { $0.hasSuffix(".h5") || $0.hasSuffix(".tmp") }.sorted()
    }

    /// Flips one bit inside the stored data of wpe (found by its bytes), in place, as a disk would.
    func corruptPositionEmbedding(_ path: String) throws {
        let contents = try Checkpoint.read(path: path)
        let tensor = try XCTUnwrap(ParameterLayout(config: contents.modelConfig).tensors.first { $0.name == "transformer.wpe.weight" })
        let values = contents.parameters[tensor.range].prefix(16)
        let pattern = Data(values.flatMap { withUnsafeBytes(of: $0.bitPattern.littleEndian, Array.init) })
        let handle = try XCTUnwrap(FileHandle(forUpdatingAtPath: path))
        defer { try? handle.close() }
        let bytes = try handle.readToEnd() ?? Data()
        let at = try XCTUnwrap(bytes.range(of: pattern), "wpe's bytes in \(path)").lowerBound + 5
        try handle.seek(toOffset: UInt64(at))
        try handle.write(contentsOf: Data([bytes[at] ^ 0x10]))
    }

    func testKeepLastRetainsTheLastSavesAndTheBest() throws {
        let out = directory.appendingPathComponent("keep").path
        let result = try train(out, ["keep_last=2", "eval_interval=5"])
        XCTAssertEqual(result.status, 0, result.output)
        // Saves at 5, 10, 15, 20: the last two kept, the older deleted, no temporary left.
        XCTAssertEqual(try names(out), ["ckpt-15.h5", "ckpt-20.h5", "ckpt-best.h5", "ckpt.h5"])
        XCTAssertEqual(try Checkpoint.read(path: out + "/ckpt-15.h5").state?.iteration, 15)
        XCTAssertEqual(try Checkpoint.read(path: out + "/ckpt-20.h5").parameters, try Checkpoint.read(path: out + "/ckpt.h5").parameters)
        // ckpt-best.h5 is the save of the lowest val loss.
        let evals = try TrainTestData.metrics(out).filter { $0.event == "eval" && $0.iter > 0 }
        let best = try XCTUnwrap(evals.min { $0.valLoss! < $1.valLoss! })
        XCTAssertEqual(try Checkpoint.read(path: out + "/ckpt-best.h5").state?.iteration, best.iter)
        // Without keep_last: ckpt.h5 and ckpt-best.h5.
        let plain = directory.appendingPathComponent("plain").path
        XCTAssertEqual(try train(plain, ["eval_interval=5"]).status, 0)
        XCTAssertEqual(try names(plain), ["ckpt-best.h5", "ckpt.h5"])
    }

    /// A flipped bit in ckpt.h5 (and so in its hard link ckpt-20.h5): resume says so, falls back to
    /// ckpt-15.h5, and ends with the parameters of the run that was never damaged.
    func testResumeFallsBackToTheNewestCheckpointThatVerifies() throws {
        let out = directory.appendingPathComponent("fallback").path
        XCTAssertEqual(try train(out, ["keep_last=2", "eval_interval=5"]).status, 0)
        let uninterrupted = try Checkpoint.read(path: out + "/ckpt.h5")
        try corruptPositionEmbedding(out + "/ckpt.h5")
        let resumed = try train(out, ["keep_last=2", "eval_interval=5", "init_from=resume"])
        XCTAssertEqual(resumed.status, 0, resumed.output)
        let checksum = "/model/transformer.wpe.weight: read failed: data error detected by Fletcher32 checksum"
        XCTAssertTrue(resumed.stdout.contains("passing over a checkpoint that does not verify or resume: \(out)/ckpt.h5: \(checksum)"), resumed.stdout)
        XCTAssertTrue(resumed.stdout.contains("passing over a checkpoint that does not verify or resume: \(out)/ckpt-20.h5: \(checksum)"), resumed.stdout)
        XCTAssertTrue(resumed.stdout.contains("falling back to \(out)/ckpt-15.h5, the newest checkpoint that verifies"), resumed.stdout)
        XCTAssertTrue(resumed.stdout.contains("resuming \(out)/ckpt-15.h5 at iteration 15"), resumed.stdout)
        let final = try Checkpoint.read(path: out + "/ckpt.h5")
        XCTAssertEqual(final.state?.iteration, 20)
        XCTAssertEqual(final.parameters, uninterrupted.parameters)
        XCTAssertEqual(final.optimizer, uninterrupted.optimizer)
    }

    /// Nothing to fall back to: one line naming the file and the dataset, non-zero.
    func testCorruptCheckpointWithoutFallbackIsOneLine() throws {
        let out = directory.appendingPathComponent("alone").path
        XCTAssertEqual(try train(out, []).status, 0)
        try corruptPositionEmbedding(out + "/ckpt.h5")
        let resumed = try train(out, ["init_from=resume"])
        XCTAssertNotEqual(resumed.status, 0)
        XCTAssertEqual(resumed.stderr, "gpt-dist train: error: \(out)/ckpt.h5: /model/transformer.wpe.weight: read failed: data error detected by Fletcher32 checksum\n")
        let sample = try runProduct("gpt-dist", ["sample", "--checkpoint", out + "/ckpt.h5", "--num-samples", "1"])
        XCTAssertNotEqual(sample.status, 0)
        XCTAssertTrue(sample.stderr.contains("\(out)/ckpt.h5: /model/transformer.wpe.weight: read failed: data error detected by Fletcher32 checksum"), sample.stderr)
    }
}
