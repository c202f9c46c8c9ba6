import Foundation
import GPT
import TestSupport
import XCTest

/// The data-parallel exchange under `mpirun`: every bucket size, both ZeRO stages, overlap on
/// and off give the parameters of one rank running the whole batch; bfloat16 on the wire stays
/// close; a checkpoint of sharded moments resumes on another rank count and stage.
final class TrainExchangeTests: XCTestCase {
    var directory: URL!
    var data: String!

    override func setUpWithError() throws {
        directory = try makeTemporaryDirectory("train-exchange")
        data = try TrainTestData.prepareDataset(in: directory)
    }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: directory) }

    /// Trains 10 iterations without dropout (its masks follow the micro-batches) and returns the
    /// parameters of the final checkpoint and the step losses.
    func run(_ name: String, np: Int?, _ overrides: [String], iterations: Int = 10) throws
        -> (parameters: [Float], losses: [Int: Double], output: String) {
        let out = directory.appendingPathComponent(name).path
        let config = directory.appendingPathComponent(name + ".yaml").path
        try TrainTestData.config(dataDir: data, outDir: out).write(toFile: config, atomically: true, encoding: .utf8)
        let arguments = ["train", "--config", config] + (["dropout=0", "max_iters=10", "lr_decay_iters=10"] + overrides)
            .flatMap { ["--set", $0] }
        let result = np.map { try? mpirun(np: $0, "gpt-dist", arguments, environment: TrainTestData.environment) }
            ?? (try? runProduct("gpt-dist", arguments, environment: TrainTestData.environment))
        let finished = try XCTUnwrap(result)
        XCTAssertEqual(finished.status, 0, finished.output)
        let checkpoint = try Checkpoint.read(path: out + "/ckpt.h5")
        XCTAssertEqual(checkpoint.state?.iteration, iterations)
        return (checkpoint.parameters, try TrainTestData.stepLosses(out), finished.output)
    }

    func largestDifference(_ a: [Float], _ b: [Float]) -> Float {
        zip(a, b).reduce(0) { max($0, abs($1.0 - $1.1)) }
    }

    func testEveryExchangeGivesTheParametersOfOneRank() throws {
        // One rank, two micro-steps of 4 sequences: the global batch of every run below.
        let one = try run("one", np: nil, ["gradient_accumulation_steps=2"])
        // Two ranks: buckets of ~250 floats (many per step), one bucket, the default; both stages.
        var twoRanks: [String: [Float]] = [:]
        for (name, settings) in [("tiny-buckets", ["bucket_mb=0.001"]), ("one-bucket", ["bucket_mb=0"]),
                                 ("default", []), ("stage0", ["zero_stage=0", "bucket_mb=0.001"]),
                                 ("stage0-one-bucket", ["zero_stage=0", "bucket_mb=0"])] {
            let two = try run("two-" + name, np: 2, settings)
            // The norm's sum of squares is added up per rank part, so its last bits (and through the
            // clipping and AdamW, the parameters' last digits) depend on the parts.
            XCTAssertLessThan(largestDifference(two.parameters, one.parameters), 5e-5, name)
            for it in 0..<10 {
                XCTAssertEqual(two.losses[it] ?? .nan, one.losses[it] ?? 0, accuracy: 1e-5 * (one.losses[it] ?? 1),
                               "\(name) iteration \(it)")
            }
            twoRanks[name] = two.parameters
        }
        // On two ranks every element is one sum of two values, whatever the buckets and stage, and
        // with the same buckets the norm is added up in the same order: bit-identical parameters.
        XCTAssertTrue(twoRanks["stage0"]! == twoRanks["tiny-buckets"]!, "stage 0 differs from stage 1")
        for name in ["one-bucket", "stage0-one-bucket"] {
            XCTAssertTrue(twoRanks[name]! == twoRanks["default"]!, "\(name) differs from the default exchange")
        }
        // Three ranks, tiny buckets (the ring adds in another order: the same float tolerance as
        // two ranks above).
        let three = try run("three", np: 3, ["gradient_accumulation_steps=3", "bucket_mb=0.001"])
        let oneOfThree = try run("one-of-three", np: nil, ["gradient_accumulation_steps=3"])
        XCTAssertLessThan(largestDifference(three.parameters, oneOfThree.parameters), 5e-5)
        XCTAssertGreaterThan(largestDifference(three.parameters, one.parameters), 1e-4, "another batch, other parameters")
    }

    func testBFloat16ExchangeStaysCloseButIsNotExact() throws {
        let fp32 = try run("fp32", np: 2, [])
        let bf16 = try run("bf16", np: 2, ["grad_reduce_dtype=bfloat16", "bucket_mb=0.001"])
        let difference = largestDifference(bf16.parameters, fp32.parameters)
        XCTAssertGreaterThan(difference, 0, "bfloat16 rounds the gradients on the wire")
        // AdamW normalises the gradient: a rounding of 2⁻⁹ relative moves each step by far less
        // than the learning rate (1e-2) per step over 10 steps.
        XCTAssertLessThan(difference, 2e-2)
        for it in 0..<10 {
            XCTAssertEqual(bf16.losses[it] ?? .nan, fp32.losses[it] ?? 0, accuracy: 2e-2 * (fp32.losses[it] ?? 1),
                           "iteration \(it)")
        }
        // Stage 0 with bfloat16 keeps the replicas identical (every rank receives the same rounded
        // sums; the trainer checks replicas at each evaluation).
        _ = try run("bf16-stage0", np: 3, ["grad_reduce_dtype=bfloat16", "zero_stage=0", "gradient_accumulation_steps=3"])
    }

    /// Sharded moments written by 3 ranks resume on 2 ranks under stage 0 and on 1 rank, with the
    /// parameters of an uninterrupted run.
    func testShardedCheckpointResumesOnOtherRankCountsAndStages() throws {
        let full = try run("full", np: nil, ["gradient_accumulation_steps=6", "max_iters=20", "lr_decay_iters=20"],
                           iterations: 20)
        let config = directory.appendingPathComponent("split.yaml").path
        let out = directory.appendingPathComponent("split").path
        try TrainTestData.config(dataDir: data, outDir: out).write(toFile: config, atomically: true, encoding: .utf8)
        func train(_ np: Int?, _ overrides: [String]) throws {
            let arguments = ["train", "--config", config] + (["dropout=0", "gradient_accumulation_steps=6", "lr_decay_iters=20"]
                + overrides).flatMap { ["--set", $0] }
            let result = try np.map { try mpirun(np: $0, "gpt-dist", arguments, environment: TrainTestData.environment) }
                ?? runProduct("gpt-dist", arguments, environment: TrainTestData.environment)
            XCTAssertEqual(result.status, 0, result.output)
        }
        try train(3, ["max_iters=10", "bucket_mb=0.001"])
        let written = try Checkpoint.read(path: out + "/ckpt.h5")
        XCTAssertEqual(written.state?.worldSize, 3)
        // The moments on disk are whole: no shard left at zero.
        let moments = try XCTUnwrap(written.optimizer)
        for tensor in ParameterLayout(config: written.modelConfig).tensors {
            XCTAssertTrue(moments.v[tensor.range].contains { $0 > 0 }, "\(tensor.name) has second moments")
        }
        try train(2, ["max_iters=15", "init_from=resume", "zero_stage=0"])
        try train(nil, ["max_iters=20", "init_from=resume"])
        let resumed = try Checkpoint.read(path: out + "/ckpt.h5")
        XCTAssertEqual(resumed.state?.iteration, 20)
        // Sums over 1, 2 and 3 ranks round differently: float tolerance, as losses agree to 1e-5.
        XCTAssertLessThan(largestDifference(resumed.parameters, full.parameters), 5e-4)
        let reference = try Checkpoint.read(path: directory.appendingPathComponent("full").path + "/ckpt.h5")
        XCTAssertLessThan(largestDifference(resumed.optimizer!.m, reference.optimizer!.m), 2e-5)
        let losses = try TrainTestData.stepLosses(out)
        for it in 0..<20 {
            XCTAssertEqual(losses[it] ?? .nan, full.losses[it] ?? 0, accuracy: 1e-5 * (full.losses[it] ?? 1), "iteration \(it)")
        }
    }
}
