import Foundation
import HDF5
import XCTest
@testable import GPT

/// Checkpoint write → read equality, the on-disk layout PyTorch users rely on, atomic saves, and
/// checkpoints written by a third party from a PyTorch state_dict.
final class CheckpointTests: XCTestCase {
    var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("ckpt-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: directory) }

    /// A tiny model after two optimizer steps, so the moments and step count are not trivial.
    func trainedModel(bias: Bool = true) throws -> (GPTModel, AdamW) {
        let model = try makeTinyModel(bias: bias, initStd: 0.1)
        let optimizer = AdamW(model: model, beta1: 0.9, beta2: 0.99, weightDecay: 0.1)
        for step in 0..<2 {
            model.zeroGradients()
            try model.forward(inputs: randomTokens(12, vocab: 11, seed: UInt64(step)),
                              targets: randomTokens(12, vocab: 11, seed: UInt64(step) + 50), batchSize: 2, sequenceLength: 6)
            model.backward()
            model.clipGradients(maxNorm: 1)
            optimizer.step(model: model, learningRate: 1e-2)
        }
        return (model, optimizer)
    }

    func settings() -> TrainConfig {
        var config = TrainConfig()
        config.n_layer = 2; config.n_head = 2; config.n_embd = 8; config.block_size = 6; config.vocab_size = 11
        config.bias = true; config.dropout = 0.25; config.data_dir = "data/x"; config.always_save_checkpoint = false
        return config
    }

    func testWriteThenReadGivesBackEverything() throws {
        let (model, optimizer) = try trainedModel()
        let tokenizer = try CharTokenizer(vocabulary: "\n !,.abcdef")
        let path = directory.appendingPathComponent("ckpt.h5").path
        let state = TrainingState(iteration: 250, bestValLoss: 1.875, seed: 42, worldSize: 3)
        try Checkpoint.write(to: path, model: model, optimizer: optimizer, config: settings(), state: state, tokenizer: tokenizer)
        XCTAssertFalse(FileManager.default.fileExists(atPath: path + ".tmp"))

        let read = try Checkpoint.read(path: path)
        XCTAssertEqual(read.modelConfig, GPTConfig(nLayer: 2, nHead: 2, nEmbd: 8, blockSize: 6, vocabSize: 11, bias: true, dropout: 0.25))
        let snapshot = try XCTUnwrap(read.optimizer)
        XCTAssertEqual(snapshot.stepCount, 2)
        for tensor in model.layout.tensors {
            XCTAssertTrue(Array(read.parameters[tensor.range]) == Array(model.parameters[tensor.range]), tensor.name)
            XCTAssertTrue(Array(snapshot.m[tensor.range]) == Array(optimizer.m[tensor.range]), "m \(tensor.name)")
            XCTAssertTrue(Array(snapshot.v[tensor.range]) == Array(optimizer.v[tensor.range]), "v \(tensor.name)")
        }
        XCTAssertEqual(read.state, state)
        XCTAssertEqual(read.tokenizer as? CharTokenizer, tokenizer)
        XCTAssertEqual(read.settings["data_dir"], .string("data/x"))
        XCTAssertEqual(read.settings["always_save_checkpoint"], .bool(false))
        XCTAssertEqual(read.settings["dropout"], .double(0.25))
        XCTAssertEqual(read.settings["max_iters"], .int(600_000))
        XCTAssertEqual(Set(read.settings.keys), Set(TrainConfig.keys.map(\.name)))
        XCTAssertTrue(read.optimizer!.m.contains { $0 != 0 })
    }

    func testLayoutIsNanoGPTsStateDictWithTiedHead() throws {
        let (model, optimizer) = try trainedModel(bias: false)
        let path = directory.appendingPathComponent("ckpt.h5").path
        try Checkpoint.write(to: path, model: model, optimizer: optimizer, config: settings(), state: nil, tokenizer: nil)
        let file = try H5File.open(at: path)
        defer { file.close() }
        let names = try file.group("model").childNames()
        XCTAssertEqual(Set(names), Set(model.layout.stateDictNames))
        XCTAssertTrue(names.contains("lm_head.weight"))
        XCTAssertFalse(names.contains { $0.hasSuffix(".bias") }, "bias: false has no bias tensors")
        XCTAssertTrue(try file.isSameObject("/model/lm_head.weight", "/model/transformer.wte.weight"))
        XCTAssertEqual(try file.linkCount("/model/transformer.wte.weight"), 2)
        XCTAssertEqual(try file.dataset("/model/transformer.h.1.attn.c_attn.weight").shape, [24, 8])
        XCTAssertEqual(try file.dataset("/model/transformer.h.0.mlp.c_proj.weight").shape, [8, 32])
        XCTAssertEqual(try file.dataset("/model/transformer.wpe.weight").shape, [6, 8])
        XCTAssertEqual(try file.dataset("/model/transformer.wte.weight").elementType, .float32)
        XCTAssertEqual(try file.dataset("/optimizer/exp_avg_sq/transformer.ln_f.weight").shape, [8])
        XCTAssertEqual(try file.group("optimizer").attribute("step", as: Int.self), 2)
        XCTAssertEqual(try file.attribute("format", as: String.self), "gpt-dist.checkpoint")
        XCTAssertEqual(try file.group("config").attribute("n_embd", as: Int.self), 8)
        let wpe = try file.dataset("/model/transformer.wpe.weight").read(as: Float.self)
        XCTAssertEqual(wpe, Array(model.parameter(named: "transformer.wpe.weight")!))
    }

    /// Every attribute a checkpoint holds, group by group, is the one docs/checkpoint-format.md
    /// lists (and no other): root, /optimizer, /state, /tokenizer; /config holds every setting
    /// that has a value.
    func testStoredAttributesAreTheDocumentedOnes() throws {
        let (model, optimizer) = try trainedModel()
        let path = directory.appendingPathComponent("ckpt.h5").path
        let state = TrainingState(iteration: 7, bestValLoss: 2.5, seed: 3, worldSize: 2,
                                  dataStream: TorchGenerator(seed: 3))
        try Checkpoint.write(to: path, model: model, optimizer: optimizer, config: settings(), state: state,
                             tokenizer: try CharTokenizer(vocabulary: "\n !,.abcdef"))
        let file = try H5File.open(at: path)
        defer { file.close() }
        XCTAssertEqual(Set(try file.attributeNames()), ["format", "format_version"])
        XCTAssertEqual(Set(try file.childNames()), ["model", "optimizer", "config", "state", "tokenizer"])
        let optimizerGroup = try file.group("optimizer")
        XCTAssertEqual(Set(try optimizerGroup.attributeNames()), ["step", "beta1", "beta2", "eps", "weight_decay"])
        XCTAssertEqual(Set(try optimizerGroup.childNames()), ["exp_avg", "exp_avg_sq"])
        XCTAssertEqual(try optimizerGroup.attribute("beta2", as: Double.self), 0.99, accuracy: 1e-7)
        let stateGroup = try file.group("state")
        XCTAssertEqual(Set(try stateGroup.attributeNames()), ["iter_num", "best_val_loss", "seed", "world_size", "dropout_stream"])
        XCTAssertEqual(try stateGroup.childNames(), ["data_stream"])
        XCTAssertEqual(try file.dataset("/state/data_stream").shape, [626])
        XCTAssertEqual(try stateGroup.attribute("iter_num", as: Int.self), 7)
        let tokenizerGroup = try file.group("tokenizer")
        XCTAssertEqual(Set(try tokenizerGroup.attributeNames()), ["kind", "vocab_size"])
        XCTAssertEqual(try tokenizerGroup.childNames(), ["vocabulary"])
        let setSettings = settings().allValues.filter { $0.value != .null }.map(\.name)
        XCTAssertEqual(Set(try file.group("config").attributeNames()), Set(setSettings))
        XCTAssertTrue(setSettings.contains("vocab_size"))
    }

    /// A save that fails half-way (here: a tokenizer that cannot be stored, after the model and
    /// moments are written) leaves the previous checkpoint as it was, and no temporary file.
    func testFailedSaveKeepsThePreviousCheckpoint() throws {
        let (model, optimizer) = try trainedModel()
        let path = directory.appendingPathComponent("ckpt.h5").path
        try Checkpoint.write(to: path, model: model, optimizer: optimizer, config: settings(),
                             state: TrainingState(iteration: 10, seed: 1), tokenizer: nil)
        let before = try Data(contentsOf: URL(fileURLWithPath: path))
        model.parameters[0] += 1
        XCTAssertThrowsError(try Checkpoint.write(to: path, model: model, optimizer: optimizer, config: settings(),
                                                  state: TrainingState(iteration: 20, seed: 1), tokenizer: UnstorableTokenizer())) { error in
            XCTAssertTrue("\(error)".hasPrefix("\(path): cannot write the checkpoint:"), "\(error)")
        }
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path)), before)
        XCTAssertFalse(FileManager.default.fileExists(atPath: path + ".tmp"))
        XCTAssertEqual(try Checkpoint.read(path: path).state?.iteration, 10)

        // A temporary file left by a crash is simply replaced by the next save.
        try Data("junk".utf8).write(to: URL(fileURLWithPath: path + ".tmp"))
        try Checkpoint.write(to: path, model: model, optimizer: optimizer, config: settings(),
                             state: TrainingState(iteration: 30, seed: 1), tokenizer: nil)
        XCTAssertEqual(try Checkpoint.read(path: path).state?.iteration, 30)
        XCTAssertEqual(try Checkpoint.read(path: path).parameters[0], model.parameters[0])
    }

    /// nanoGPT's own parameters, written by h5py from a PyTorch state_dict (lm_head a separate
    /// copy, /config from Python): they load and give PyTorch's loss.
    func testThirdPartyPyTorchCheckpointLoadsAndGivesPyTorchsLoss() throws {
        for name in ["gpt_bias", "gpt_nobias"] {
            let url = try XCTUnwrap(Bundle.module.url(forResource: name, withExtension: "h5", subdirectory: "Fixtures"))
            let (model, contents) = try Checkpoint.loadModel(path: url.path, threads: 1)
            XCTAssertNil(contents.optimizer); XCTAssertNil(contents.state); XCTAssertNil(contents.tokenizer)
            XCTAssertEqual(model.config.bias, name == "gpt_bias")
            let file = try H5File.open(at: url.path)
            let idx = try file.dataset("batch/idx").read(as: Int32.self, conversion: .numeric)
            let targets = try file.dataset("batch/targets").read(as: Int32.self, conversion: .numeric)
            let shape = try file.dataset("batch/idx").shape
            let expected = try file.group("expected").attribute("loss", as: Double.self)
            file.close()
            let loss = try model.forward(inputs: idx, targets: targets, batchSize: shape[0], sequenceLength: shape[1])
            XCTAssertEqual(Double(loss), expected, accuracy: 1e-5 * expected, name)
        }
    }

    func testThirdPartyMistakesAreNamed() throws {
        let source = try XCTUnwrap(Bundle.module.url(forResource: "gpt_bias", withExtension: "h5", subdirectory: "Fixtures"))
        let path = directory.appendingPathComponent("third.h5").path
        try FileManager.default.copyItem(atPath: source.path, toPath: path)
        do {
            let file = try H5File.open(at: path, mode: .readWrite)
            let head = try file.dataset("model/lm_head.weight")
            var values = try head.read(as: Float.self)
            values[3] += 0.5
            try head.write(values)
            file.close()
        }
        XCTAssertThrowsError(try Checkpoint.read(path: path)) { error in
            XCTAssertTrue("\(error)".hasPrefix("\(path): /model/lm_head.weight differs from transformer.wte.weight"), "\(error)")
        }
        do {
            let file = try H5File.open(at: path, mode: .readWrite)
            try file.group("config").setAttribute("n_layer", 3)
            file.close()
        }
        XCTAssertThrowsError(try Checkpoint.read(path: path)) { error in
            XCTAssertEqual("\(error)", "\(path): /model has no dataset 'transformer.h.2.ln_1.weight' (needed by its /config)")
        }
        do {
            let file = try H5File.open(at: path, mode: .readWrite)
            try file.group("config").deleteAttribute("n_embd")
            file.close()
        }
        XCTAssertThrowsError(try Checkpoint.read(path: path)) { error in
            XCTAssertEqual("\(error)", "\(path): /config has no attribute 'n_embd'")
        }
        let notCheckpoint = directory.appendingPathComponent("empty.h5").path
        try H5File.create(at: notCheckpoint).close()
        XCTAssertThrowsError(try Checkpoint.read(path: notCheckpoint)) { error in
            XCTAssertEqual("\(error)", "\(notCheckpoint): not a checkpoint: no /config group")
        }
    }

    func testCroppingTheContextKeepsTheFirstPositions() throws {
        let (model, _) = try trainedModel()
        var smaller = model.config
        smaller.blockSize = 4
        let cropped = Checkpoint.relayout(Array(model.parameters), from: model.config, to: smaller)
        let target = ParameterLayout(config: smaller)
        for tensor in target.tensors {
            let old = model.layout.tensor(named: tensor.name)!
            let expected = Array(model.parameters[old.offset..<(old.offset + tensor.count)])
            XCTAssertEqual(Array(cropped[tensor.range]), expected, tensor.name)
        }
        XCTAssertEqual(target.tensor(named: "transformer.wpe.weight")!.shape, [4, 8])
    }
}

/// A tokenizer the checkpoint cannot store, to make a save fail after most of the file is written.
private struct UnstorableTokenizer: Tokenizer {
    var kind: TokenizerKind { .bpe }
    var vocabularySize: Int { 11 }
    func encode(_ text: String) throws -> [Int32] { [] }
    func decode(_ tokens: [Int32]) -> String { "" }
}
