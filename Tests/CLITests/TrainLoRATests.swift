import Foundation
import GPT
import TestSupport
import XCTest

/// `gpt-dist train` with LoRA end to end: the base stays the starting model bit for bit, resume
/// continues bit for bit, two ranks under mpirun train the adapters one rank trains, export
/// merges or writes PEFT's directory, and bad settings are one line.
final class TrainLoRATests: XCTestCase {
    var directory: URL!
    var data: String!
    static let lora = ["lora_rank=4", "lora_alpha=8", "lora_dropout=0.1", "lora_targets=c_attn,mlp.c_proj"]

    override func setUpWithError() throws {
        directory = try makeTemporaryDirectory("train-lora")
        data = try TrainTestData.prepareDataset(in: directory)
    }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: directory) }

    func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

    /// A config file for out_dir `name` (TrainTestData's tiny model, dropout 0.1).
    func config(_ name: String) throws -> String {
        let file = path(name + ".yaml")
        try TrainTestData.config(dataDir: data, outDir: path(name)).write(toFile: file, atomically: true, encoding: .utf8)
        return file
    }

    func train(_ config: String, _ overrides: [String], np: Int? = nil) throws -> ProcessResult {
        let arguments = ["train", "--config", config] + overrides.flatMap { ["--set", $0] }
        if let np { return try mpirun(np: np, "gpt-dist", arguments, environment: TrainTestData.environment) }
        return try runProduct("gpt-dist", arguments, environment: TrainTestData.environment)
    }

    /// The parameters the run started from: nanoGPT's init of the checkpoint's shape from seed 1337.
    func initialParameters(_ shape: GPTConfig) throws -> [Float] {
        let model = try GPTModel(config: shape, seed: 1337, threads: 1)
        return withExtendedLifetime(model) { Array(model.parameters) }
    }

    /// 20 iterations in one run equal 10 + resume + 10 bit for bit (lora_dropout and dropout on):
    /// losses, adapters and their moments; the base is the initial model's throughout.
    func testResumeWithLoRAContinuesExactly() throws {
        let full = try config("full"), split = try config("split")
        let whole = try train(full, Self.lora)
        XCTAssertEqual(whole.status, 0, whole.output)
        XCTAssertTrue(whole.stdout.contains("lora: rank 4, alpha 8 (scale 2), dropout 0.1, on c_attn,mlp.c_proj of every block"), whole.stdout)
        let first = try train(split, Self.lora + ["max_iters=10"])
        XCTAssertEqual(first.status, 0, first.output)
        let second = try train(split, Self.lora + ["init_from=resume"])
        XCTAssertEqual(second.status, 0, second.output)
        XCTAssertTrue(second.stdout.contains("resuming"), second.stdout)
        let a = try TrainTestData.stepLosses(path("full")), b = try TrainTestData.stepLosses(path("split"))
        for it in 0..<20 { XCTAssertEqual(a[it], b[it], "iteration \(it)") }

        let x = try Checkpoint.read(path: path("full/ckpt.h5")), y = try Checkpoint.read(path: path("split/ckpt.h5"))
        XCTAssertEqual(x.state?.iteration, 20)
        XCTAssertEqual(y.state?.iteration, 20)
        let adaptersX = try XCTUnwrap(x.lora), adaptersY = try XCTUnwrap(y.lora)
        XCTAssertEqual(adaptersY.parameters.map(\.bitPattern), adaptersX.parameters.map(\.bitPattern))
        XCTAssertEqual(y.optimizer?.m.map(\.bitPattern), x.optimizer?.m.map(\.bitPattern))
        XCTAssertEqual(y.optimizer?.v.map(\.bitPattern), x.optimizer?.v.map(\.bitPattern))
        XCTAssertEqual(x.optimizer?.m.count, LoRALayout(config: x.modelConfig, lora: adaptersX.config).count)
        XCTAssertEqual(y.optimizer?.stepCount, 20)
        let initial = try initialParameters(x.modelConfig)
        XCTAssertEqual(x.parameters.map(\.bitPattern), initial.map(\.bitPattern), "the frozen base moved")
        XCTAssertEqual(y.parameters.map(\.bitPattern), initial.map(\.bitPattern), "the frozen base moved")
        XCTAssertGreaterThan(adaptersX.parameters.map(abs).max()!, 0)
        XCTAssertLessThan(a[19]!, a[0]!, "the adapters learn")
    }

    /// Two ranks (one micro-step each) end with the adapters of one rank taking both micro-steps.
    /// The trainer compares every rank's parameters and adapters (a checksum) at each evaluation,
    /// the last at iteration 10, and fails the run if any differ: both ranks hold identical adapters.
    func testTwoRanksTrainTheAdaptersOfOneRank() throws {
        let c = try config("ranks")
        let settings = Self.lora + ["max_iters=10", "lr_decay_iters=10"]
        let one = try train(c, settings + ["out_dir=\(path("one"))"])
        XCTAssertEqual(one.status, 0, one.output)
        for (name, extra) in [("two", [String]()), ("two-stage0", ["zero_stage=0", "bucket_mb=0.001"])] {
            let two = try train(c, settings + ["out_dir=\(path(name))"] + extra, np: 2)
            XCTAssertEqual(two.status, 0, two.output)
            let x = try Checkpoint.read(path: path("one/ckpt.h5")), y = try Checkpoint.read(path: path(name + "/ckpt.h5"))
            XCTAssertEqual(y.state?.worldSize, 2)
            let difference = zip(try XCTUnwrap(y.lora).parameters, try XCTUnwrap(x.lora).parameters)
                .reduce(Float(0)) { max($0, abs($1.0 - $1.1)) }
            XCTAssertLessThan(difference, 5e-5, name)
            XCTAssertEqual(y.parameters.map(\.bitPattern), x.parameters.map(\.bitPattern), "\(name): the frozen base")
            assertLossesAgree(try TrainTestData.stepLosses(path(name)), try TrainTestData.stepLosses(path("one")),
                              iterations: 0..<10, relative: 1e-5)
        }
        // The adapters' sharded moments written by two ranks resume on one.
        let longer = try train(c, settings + ["out_dir=\(path("one15"))", "max_iters=15"])
        XCTAssertEqual(longer.status, 0, longer.output)
        let resumed = try train(c, settings + ["out_dir=\(path("two"))", "max_iters=15", "init_from=resume"])
        XCTAssertEqual(resumed.status, 0, resumed.output)
        let x = try Checkpoint.read(path: path("one15/ckpt.h5")), y = try Checkpoint.read(path: path("two/ckpt.h5"))
        XCTAssertEqual(y.state?.iteration, 15)
        let difference = zip(try XCTUnwrap(y.lora).parameters, try XCTUnwrap(x.lora).parameters)
            .reduce(Float(0)) { max($0, abs($1.0 - $1.1)) }
        XCTAssertLessThan(difference, 5e-5)
        assertLossesAgree(try TrainTestData.stepLosses(path("two")), try TrainTestData.stepLosses(path("one15")),
                          iterations: 0..<15, relative: 1e-5)
    }

    /// Exactly one error line, naming the key, and a non-zero exit.
    func assertOneLine(_ result: ProcessResult, _ expected: String, command: String = "train",
                       file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertNotEqual(result.status, 0, result.output, file: file, line: line)
        let lines = result.stderr.split(separator: "\n").filter { !$0.isEmpty }
        XCTAssertEqual(lines.count, 1, result.output, file: file, line: line)
        XCTAssertEqual(lines.first.map(String.init), "gpt-dist \(command): error: " + expected, result.output, file: file, line: line)
        XCTAssertFalse(result.stderr.contains("Fatal error"), result.output, file: file, line: line)
    }

    func testBadLoRASettingsAreOneLine() throws {
        let c = try config("bad")
        assertOneLine(try train(c, ["lora_rank=-1"]), "--set lora_rank: -1 must be 0 (no LoRA) or a positive rank")
        assertOneLine(try train(c, ["lora_rank=4", "lora_alpha=0"]),
                      "--set lora_alpha: 0.0 must be a positive number (the adapters' output is scaled by lora_alpha / lora_rank)")
        assertOneLine(try train(c, ["lora_rank=4", "lora_dropout=1"]), "--set lora_dropout: 1.0 must be in [0, 1)")
        assertOneLine(try train(c, ["lora_rank=4", "lora_targets=c_attn,q_proj"]),
                      "--set lora_targets: 'q_proj' is not one of c_attn, attn.c_proj, c_fc, mlp.c_proj")
        assertOneLine(try train(c, ["lora_rank=4", "lora_targets=c_fc,c_fc"]), "--set lora_targets: 'c_fc' is named twice")

        // Resume trains what the checkpoint trained.
        let saved = try train(c, Self.lora + ["max_iters=2", "eval_interval=2"])
        XCTAssertEqual(saved.status, 0, saved.output)
        let checkpoint = path("bad/ckpt.h5")
        assertOneLine(try train(c, ["init_from=resume", "lora_rank=8"]),
                      "--set lora_rank: 8 differs from the 4 of the adapters in \(checkpoint), which this run resumes")
        assertOneLine(try train(c, ["init_from=resume"]),
                      "\(c): lora_rank: 0, but \(checkpoint) trains LoRA adapters (lora_rank 4, lora_alpha 8.0, lora_targets c_attn,mlp.c_proj): resume with those, or fine-tune every weight of the merged model (init_from: \(checkpoint))")
        let plain = try config("plain")
        XCTAssertEqual(try train(plain, ["max_iters=2", "eval_interval=2"]).status, 0)
        assertOneLine(try train(plain, ["init_from=resume", "lora_rank=4"]),
                      "--set lora_rank: 4, but \(path("plain/ckpt.h5")) trained every weight (it has no /lora adapters): resume with lora_rank 0, or fine-tune from it with adapters (init_from: \(path("plain/ckpt.h5")))")
        assertOneLine(try runProduct("gpt-dist", ["export", "--checkpoint", path("plain/ckpt.h5"), "--adapters-only", "--out", path("peft")]),
                      "\(path("plain/ckpt.h5")): has no LoRA adapters (/lora): --adapters-only needs a checkpoint trained with lora_rank > 0", command: "export")
    }

    /// Fine-tuning from a LoRA checkpoint starts from its merged weights; export merges, or
    /// writes the adapters alone; eval and sample use the merged model.
    func testExportEvalAndFineTuneFromALoRACheckpoint() throws {
        let c = try config("src")
        let trained = try train(c, Self.lora + ["max_iters=4", "eval_interval=4"])
        XCTAssertEqual(trained.status, 0, trained.output)
        let ckpt = path("src/ckpt.h5")
        let merged = try runProduct("gpt-dist", ["export", "--checkpoint", ckpt, "--format", "huggingface", "--out", path("hf")])
        XCTAssertEqual(merged.status, 0, merged.output)
        XCTAssertTrue(merged.stdout.contains("note: the LoRA adapters (rank 4 on c_attn,mlp.c_proj, scale 2.0) are merged into the weights"), merged.stdout)
        let peft = try runProduct("gpt-dist", ["export", "--checkpoint", ckpt, "--adapters-only", "--out", path("peft")])
        XCTAssertEqual(peft.status, 0, peft.output)
        XCTAssertTrue(peft.stdout.contains("rank 4 on c_attn,mlp.c_proj, 2304 parameters"), peft.stdout)
        for name in ["adapter_model.safetensors", "adapter_config.json"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: path("peft/" + name)), name)
        }
        let eval = try runProduct("gpt-dist", ["eval", "--checkpoint", ckpt, "--data", data, "--split", "val"])
        XCTAssertEqual(eval.status, 0, eval.output)

        // Every weight of the merged model trains from here (learning rate 0: it is saved as read).
        let tune = try config("tune")
        let tuned = try train(tune, ["init_from=\(ckpt)", "max_iters=1", "eval_interval=1", "learning_rate=0", "min_lr=0"])
        XCTAssertEqual(tuned.status, 0, tuned.output)
        let source = try Checkpoint.read(path: ckpt), result = try Checkpoint.read(path: path("tune/ckpt.h5"))
        XCTAssertNil(result.lora)
        XCTAssertEqual(result.parameters.map(\.bitPattern), source.mergedParameters.map(\.bitPattern))
        XCTAssertNotEqual(source.mergedParameters, source.parameters)
    }
}
