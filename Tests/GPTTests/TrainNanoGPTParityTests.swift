import Foundation
import Parallel
import XCTest
@testable import GPT

/// A short training run against nanoGPT's own (Fixtures/nanogpt_run.h5, written by
/// Fixtures/make_nanogpt_run_fixture.py with PyTorch): the same seed gives the same initial
/// weights and the same batches, so every step's loss and every loss estimate agree.
final class TrainNanoGPTParityTests: XCTestCase {
    func testOneRankReproducesNanoGPTsRun() throws {
        let fixture = try PyTorchFixture(name: "nanogpt_run")
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("parity-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let text = directory.appendingPathComponent("corpus.txt")
        let bytes = try fixture.file.group("/").dataset("text").read(as: UInt8.self)
        try Data(bytes).write(to: text)
        let data = directory.appendingPathComponent("data").path
        _ = try DatasetPreparer.prepare(PrepareOptions(inputs: [text.path], output: data), tokenizer: nil)

        let keys = ["n_layer", "n_head", "n_embd", "block_size", "batch_size", "gradient_accumulation_steps",
                    "max_iters", "warmup_iters", "lr_decay_iters", "eval_interval", "eval_iters", "seed"]
        let numbers = ["learning_rate", "min_lr", "weight_decay", "beta1", "beta2", "grad_clip", "dropout"]
        var yaml = "data_dir: \(data)\nout_dir: \(directory.appendingPathComponent("out").path)\n"
        yaml += "bias: true\nthreads: 1\nlog_interval: 1\nalways_save_checkpoint: false\n"
        for key in keys { yaml += "\(key): \(try fixture.intAttribute("/", key))\n" }
        for key in numbers { yaml += "\(key): \(try fixture.attribute("/", key))\n" }
        let (config, sources) = try TrainConfig.parse(yaml: yaml, file: "parity.yaml")
        XCTAssertEqual(config.gradient_accumulation_steps, 1)

        let reporter = try TrainReporter(outDirectory: config.out_dir, quiet: true)
        let trainer = try Trainer(config: config, sources: sources, communicator: LocalCommunicator(), reporter: reporter)
        let outcome = try trainer.run()

        let expectedSteps = try fixture.doubles("step_losses")
        XCTAssertEqual(outcome.stepLosses.count, expectedSteps.count)
        for (i, (actual, expected)) in zip(outcome.stepLosses, expectedSteps).enumerated() {
            XCTAssertEqual(actual, expected, accuracy: 2e-5 * expected, "loss of step \(i)")
        }
        // Each of nanoGPT's estimates (iteration, train, val) is among ours at that iteration.
        let evals = try fixture.doubles("evals")
        let records = try MetricsLog.read(path: config.out_dir + "/metrics.jsonl").filter { $0.event == .eval }
        XCTAssertEqual(evals.count, 9, "nanoGPT evaluated at 0, 5 and 10")
        for e in stride(from: 0, to: evals.count, by: 3) {
            let record = try XCTUnwrap(records.first { $0.iter == Int(evals[e]) }, "an evaluation at \(evals[e])")
            let train = record.loss, val = try XCTUnwrap(record.valLoss)
            XCTAssertEqual(train, evals[e + 1], accuracy: 2e-5 * evals[e + 1], "train estimate at \(evals[e])")
            XCTAssertEqual(val, evals[e + 2], accuracy: 2e-5 * evals[e + 2], "val estimate at \(evals[e])")
        }

        // activation_checkpointing recomputes every block in backward with the same kernels:
        // the same run, bit for bit.
        let recomputedYAML = yaml.replacingOccurrences(of: "/out\n", with: "/out-recomputed\n")
            + "activation_checkpointing: true\n"
        let (recomputedConfig, recomputedSources) = try TrainConfig.parse(yaml: recomputedYAML, file: "parity.yaml")
        XCTAssertTrue(recomputedConfig.activation_checkpointing)
        let recomputed = try Trainer(config: recomputedConfig, sources: recomputedSources,
                                     communicator: LocalCommunicator(),
                                     reporter: try TrainReporter(outDirectory: recomputedConfig.out_dir, quiet: true))
        XCTAssertTrue(recomputed.model.activationCheckpointing)
        XCTAssertEqual(try recomputed.run().stepLosses, outcome.stepLosses)
        XCTAssertEqual(Array(recomputed.model.parameters), Array(trainer.model.parameters))
    }
}
