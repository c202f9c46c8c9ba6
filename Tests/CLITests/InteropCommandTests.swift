import Foundation
import GPT
import TestSupport
import XCTest

/// `gpt-dist import`, `gpt-dist export` and `train --set init_from=HF_DIR`, run as a user would,
/// on the Hugging Face fixture (Tests/GPTTests/Fixtures/hf_gpt2, made by transformers).
final class InteropCommandTests: XCTestCase {
    static let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("GPTTests/Fixtures/hf_gpt2").path
    var folder: URL!

    override func setUpWithError() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("interop-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: folder)
    }

    func path(_ name: String) -> String { folder.appendingPathComponent(name).path }

    /// A non-zero exit and exactly one line on standard error, `gpt-dist <command>: error: `
    /// followed by `expected`.
    func assertOneLineError(_ result: ProcessResult, command: String, _ expected: String,
                            file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertNotEqual(result.status, 0, result.output, file: file, line: line)
        let lines = result.stderr.split(separator: "\n")
        XCTAssertEqual(lines.count, 1, result.output, file: file, line: line)
        XCTAssertTrue(lines.first?.hasPrefix("gpt-dist \(command): error: \(expected)") == true, result.output, file: file, line: line)
    }

    func testImportExportAndImportAgain() throws {
        let imported = try runProduct("gpt-dist", ["import", "--from", Self.fixture, "--out", path("ckpt.h5")])
        XCTAssertEqual(imported.status, 0, imported.output)
        XCTAssertTrue(imported.stdout.contains("(2 layers, 2 heads, 32 embd, block 64, vocab 400, dropout 0.1), bpe tokenizer of 400 tokens -> \(path("ckpt.h5"))"), imported.stdout)

        let sample = try runProduct("gpt-dist", ["sample", "--checkpoint", path("ckpt.h5"), "--prompt", "To be", "--max-new-tokens", "4", "--seed", "1"])
        XCTAssertEqual(sample.status, 0, sample.output)
        XCTAssertTrue(sample.stdout.hasPrefix("To be"), sample.stdout)

        let exported = try runProduct("gpt-dist", ["export", "--checkpoint", path("ckpt.h5"), "--format", "huggingface", "--out", path("hf")])
        XCTAssertEqual(exported.status, 0, exported.output)
        for name in ["config.json", "model.safetensors", "generation_config.json", "vocab.json", "merges.txt", "tokenizer.json"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: path("hf/" + name)), name)
        }
        let again = try runProduct("gpt-dist", ["import", "--from", path("hf"), "--out", path("again.h5"), "--dropout", "0.1"])
        XCTAssertEqual(again.status, 0, again.output)
        let a = try Checkpoint.read(path: path("ckpt.h5")), b = try Checkpoint.read(path: path("again.h5"))
        XCTAssertEqual(a.modelConfig, b.modelConfig)
        XCTAssertEqual(a.parameters.map(\.bitPattern), b.parameters.map(\.bitPattern))

        assertOneLineError(try runProduct("gpt-dist", ["export", "--checkpoint", path("ckpt.h5"), "--out", path("hf")]),
                           command: "export", "\(path("hf/config.json")): already exists (use --force to replace it)")
        XCTAssertEqual(try runProduct("gpt-dist", ["export", "--checkpoint", path("ckpt.h5"), "--out", path("hf"), "--force"]).status, 0)
    }

    func testBadInputIsOneLineNamingTheFileOrKey() throws {
        assertOneLineError(try runProduct("gpt-dist", ["import", "--from", path("absent"), "--out", path("x.h5")]),
                           command: "import", "\(path("absent")): is not a directory")
        let copy = path("bad")
        try FileManager.default.copyItem(atPath: Self.fixture, toPath: copy)
        var config = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: copy + "/config.json"))) as? [String: Any])
        config["n_inner"] = 100
        try JSONSerialization.data(withJSONObject: config).write(to: URL(fileURLWithPath: copy + "/config.json"))
        assertOneLineError(try runProduct("gpt-dist", ["import", "--from", copy, "--out", path("x.h5")]),
                           command: "import", "\(copy)/config.json: n_inner is 100; gpt-dist's MLP is 4 · n_embd = 128 wide")
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("x.h5")))
        assertOneLineError(try runProduct("gpt-dist", ["export", "--checkpoint", path("none.h5"), "--format", "onnx", "--out", path("o")]),
                           command: "export", "--format: expected huggingface, got 'onnx'")
        assertOneLineError(try runProduct("gpt-dist", ["import", "--from", Self.fixture, "--out", path("x.h5"), "--dropout", "1.5"]),
                           command: "import", "--dropout: must be in [0, 1), got 1.5")
    }

    /// Data prepared with the directory's own tokenizer, as the fine-tuning recipe does, in `data`.
    func prepareData() throws {
        let text = path("corpus.txt")
        try TrainTestData.corpus(characters: 20_000).write(toFile: text, atomically: true, encoding: .utf8)
        let prepared = try runProduct("gpt-dist", ["prepare", "--input", text, "--out", path("data"), "--tokenizer", "bpe",
                                                   "--vocab", Self.fixture + "/vocab.json", "--merges", Self.fixture + "/merges.txt"])
        XCTAssertEqual(prepared.status, 0, prepared.output)
    }

    func testTrainStartsFromAHuggingFaceDirectory() throws {
        try prepareData()
        // Learning rate 0: the saved model must be the imported one (block_size cropped to 16).
        let config = path("finetune.yaml")
        try TrainTestData.config(dataDir: path("data"), outDir: path("out"), extra: "init_from: \(Self.fixture)")
            .replacingOccurrences(of: "max_iters: 20", with: "max_iters: 2")
            .replacingOccurrences(of: "learning_rate: 1.0e-2", with: "learning_rate: 0.0")
            .replacingOccurrences(of: "min_lr: 1.0e-3", with: "min_lr: 0.0")
            .replacingOccurrences(of: "eval_interval: 10", with: "eval_interval: 1")
            .write(toFile: config, atomically: true, encoding: .utf8)
        let trained = try runProduct("gpt-dist", ["train", "--config", config, "--quiet"], environment: TrainTestData.environment)
        XCTAssertEqual(trained.status, 0, trained.output)
        let saved = try Checkpoint.read(path: path("out/ckpt.h5"))
        XCTAssertEqual(saved.modelConfig.blockSize, 16)
        XCTAssertEqual(saved.modelConfig.vocabSize, 400)
        XCTAssertEqual(saved.tokenizer?.vocabularySize, 400)
        let imported = try HuggingFaceImport.read(directory: Self.fixture)
        var cropped = imported.contents.modelConfig
        cropped.blockSize = 16
        let expected = Checkpoint.relayout(imported.contents.parameters, from: imported.contents.modelConfig, to: cropped)
        XCTAssertEqual(saved.parameters.map(\.bitPattern), expected.map(\.bitPattern))

        // nanoGPT's recipe, configs/finetune_shakespeare.yaml, on this directory and data (shortened).
        let recipe = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("configs/finetune_shakespeare.yaml").path
        let finetuned = try runProduct("gpt-dist", ["train", "--config", recipe, "--set", "init_from=\(Self.fixture)",
                                                    "--set", "data_dir=\(path("data"))", "--set", "out_dir=\(path("recipe"))",
                                                    "--set", "block_size=32", "--set", "max_iters=2", "--set", "eval_iters=2",
                                                    "--set", "eval_interval=1", "--set", "gradient_accumulation_steps=2",
                                                    "--set", "threads=1"],
                                       environment: TrainTestData.environment)
        XCTAssertEqual(finetuned.status, 0, finetuned.output)
        XCTAssertTrue(finetuned.stdout.contains("fine-tuning \(Self.fixture)"), finetuned.stdout)
        XCTAssertTrue(finetuned.stdout.contains("done: 2 iterations"), finetuned.stdout)

        // A directory that cannot be imported stops train with its one line.
        let bad = path("bad")
        try FileManager.default.copyItem(atPath: Self.fixture, toPath: bad)
        try FileManager.default.removeItem(atPath: bad + "/model.safetensors")
        assertOneLineError(try runProduct("gpt-dist", ["train", "--config", config, "--set", "init_from=\(bad)", "--quiet"],
                                          environment: TrainTestData.environment),
                           command: "train", "\(bad): has no model.safetensors")
    }

    /// configs/finetune_shakespeare_lora.yaml on the directory (shortened): the base stays the
    /// imported model bit for bit, the adapters train, and --adapters-only names the directory
    /// as PEFT's base model.
    func testLoRARecipeFineTunesTheDirectory() throws {
        try prepareData()
        let recipe = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("configs/finetune_shakespeare_lora.yaml").path
        let trained = try runProduct("gpt-dist", ["train", "--config", recipe, "--set", "init_from=\(Self.fixture)",
                                                  "--set", "data_dir=\(path("data"))", "--set", "out_dir=\(path("lora"))",
                                                  "--set", "block_size=32", "--set", "max_iters=3", "--set", "eval_iters=2",
                                                  "--set", "eval_interval=3", "--set", "gradient_accumulation_steps=2",
                                                  "--set", "threads=1", "--set", "always_save_checkpoint=true"],
                                     environment: TrainTestData.environment)
        XCTAssertEqual(trained.status, 0, trained.output)
        XCTAssertTrue(trained.stdout.contains("lora: rank 8, alpha 16 (scale 2), dropout 0.05, on c_attn of every block: 2048 trainable parameters"),
                      trained.stdout)
        let saved = try Checkpoint.read(path: path("lora/ckpt.h5"))
        let imported = try HuggingFaceImport.read(directory: Self.fixture).contents
        var cropped = imported.modelConfig
        cropped.blockSize = 32
        let expected = Checkpoint.relayout(imported.parameters, from: imported.modelConfig, to: cropped)
        XCTAssertEqual(saved.parameters.map(\.bitPattern), expected.map(\.bitPattern), "the frozen base moved")
        let adapters = try XCTUnwrap(saved.lora)
        XCTAssertEqual(adapters.baseModel, Self.fixture)
        XCTAssertGreaterThan(adapters.parameters.map(abs).max()!, 0)
        let peft = try runProduct("gpt-dist", ["export", "--checkpoint", path("lora/ckpt.h5"), "--adapters-only", "--out", path("peft")])
        XCTAssertEqual(peft.status, 0, peft.output)
        let config = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path("peft/adapter_config.json")))) as? [String: Any])
        XCTAssertEqual(config["base_model_name_or_path"] as? String, Self.fixture)
        XCTAssertEqual(config["r"] as? Int, 8)
        XCTAssertEqual(config["lora_alpha"] as? Int, 16)
        XCTAssertEqual(config["target_modules"] as? [String], ["c_attn"])
    }

    /// Two ranks fine-tuning from the directory (rank 0 imports it, the others get its shape and
    /// parameters by broadcast) take the steps one rank with two micro-steps takes.
    func testTwoRanksFineTuneFromTheDirectoryAsOneRankDoes() throws {
        try prepareData()
        let config = path("finetune.yaml")
        try TrainTestData.config(dataDir: path("data"), outDir: path("one"), extra: "init_from: \(Self.fixture)")
            .replacingOccurrences(of: "max_iters: 20", with: "max_iters: 4")
            .write(toFile: config, atomically: true, encoding: .utf8)
        let arguments = ["train", "--config", config, "--quiet", "--set", "dropout=0", "--set", "lr_decay_iters=4"]
        let one = try runProduct("gpt-dist", arguments, environment: TrainTestData.environment)
        XCTAssertEqual(one.status, 0, one.output)
        let two = try mpirun(np: 2, "gpt-dist", arguments + ["--set", "out_dir=\(path("two"))"], environment: TrainTestData.environment)
        XCTAssertEqual(two.status, 0, two.output)
        let losses = try TrainTestData.stepLosses(path("one"))
        assertLossesAgree(try TrainTestData.stepLosses(path("two")), losses, iterations: 0..<4, relative: 1e-5)
        XCTAssertLessThan(losses[3]!, losses[0]!, "fine-tuning lowers the loss")
    }
}
