import Foundation
import HDF5
import SafeTensors
import XCTest
@testable import GPT

/// LoRA in files: adapters and their moments under `/lora` of a checkpoint, the merged Hugging
/// Face export, and PEFT's adapter directory.
final class LoRACheckpointTests: InteropTestCase {
    /// A tiny LoRA model after two AdamW steps of its adapters.
    func trained() throws -> (GPTModel, AdamW) {
        let model = try makeTinyLoRAModel(rank: 2, alpha: 6, loraDropout: 0.1, targets: [.attention, .feedForward],
                                          randomAdapters: false)
        let optimizer = AdamW(model: model, beta2: 0.99)
        for step in 0..<2 {
            model.zeroGradients()
            try model.forward(inputs: randomTokens(12, vocab: 11, seed: UInt64(step)),
                              targets: randomTokens(12, vocab: 11, seed: UInt64(step) + 50), batchSize: 2, sequenceLength: 6)
            model.backward()
            optimizer.step(model: model, learningRate: 1e-2)
        }
        return (model, optimizer)
    }

    func settings() -> TrainConfig {
        var config = TrainConfig()
        config.n_layer = 2; config.n_head = 2; config.n_embd = 8; config.block_size = 6; config.vocab_size = 11
        config.bias = true; config.lora_rank = 2; config.lora_alpha = 6; config.lora_dropout = 0.1
        config.lora_targets = "c_attn,c_fc"
        return config
    }

    func testAdaptersAndTheirMomentsRoundTripUnderLora() throws {
        let (model, optimizer) = try trained()
        let path = folder.appendingPathComponent("ckpt.h5").path
        try Checkpoint.write(to: path, model: model, optimizer: optimizer, config: settings(),
                             state: TrainingState(iteration: 2, bestValLoss: 3, seed: 1, worldSize: 1), tokenizer: nil,
                             loraBase: "models/gpt2")
        let read = try Checkpoint.read(path: path)
        let lora = try XCTUnwrap(read.lora)
        XCTAssertEqual(lora.config, LoRAConfig(rank: 2, alpha: 6, dropout: 0.1, targets: [.attention, .feedForward]))
        XCTAssertEqual(lora.baseModel, "models/gpt2")
        XCTAssertEqual(lora.parameters.map(\.bitPattern), Array(model.lora!.parameters).map(\.bitPattern))
        for tensor in model.layout.tensors {  // (the test model's padding is random; a file's is zero)
            XCTAssertEqual(read.parameters[tensor.range].map(\.bitPattern), model.parameters[tensor.range].map(\.bitPattern), tensor.name)
        }
        let moments = try XCTUnwrap(read.optimizer)
        XCTAssertEqual(moments.stepCount, 2)
        XCTAssertEqual(moments.m.map(\.bitPattern), Array(optimizer.m).map(\.bitPattern))
        XCTAssertEqual(moments.v.map(\.bitPattern), Array(optimizer.v).map(\.bitPattern))
        XCTAssertGreaterThan(moments.v.max()!, 0)

        // On disk: /lora holds the adapters and their moments; /optimizer only its attributes.
        let file = try H5File.open(at: path)
        defer { file.close() }
        let group = try file.group("lora")
        XCTAssertEqual(try group.attribute("rank", as: Int.self), 2)
        XCTAssertEqual(try group.attribute("alpha", as: Double.self), 6)
        XCTAssertEqual(try group.attribute("targets", as: String.self), "c_attn,c_fc")
        XCTAssertEqual(try group.attribute("scale", as: Double.self), 3)
        XCTAssertEqual(try group.group("adapters").childNames().sorted(), model.lora!.layout.tensors.map(\.name).sorted())
        XCTAssertEqual(try group.group("adapters").dataset("transformer.h.1.mlp.c_fc.lora_B.weight").shape, [32, 2])
        XCTAssertEqual(try group.group("exp_avg").childNames().count, 8)
        XCTAssertEqual(try group.group("exp_avg_sq").childNames().count, 8)
        XCTAssertNil(try file.group("optimizer").kind(of: "exp_avg"), "a frozen base has no moments")
    }

    func testDamagedAdaptersAreOneLine() throws {
        let (model, optimizer) = try trained()
        let path = folder.appendingPathComponent("ckpt.h5").path
        try Checkpoint.write(to: path, model: model, optimizer: optimizer, config: settings(), state: nil, tokenizer: nil)
        do {
            let file = try H5File.open(at: path, mode: .readWrite)
            try file.group("lora").setAttribute("targets", "c_attn,q_proj")
            file.close()
        }
        XCTAssertEqual(message { _ = try Checkpoint.read(path: path) },
                       "\(path): /lora attribute lora_targets: 'q_proj' is not one of c_attn, attn.c_proj, c_fc, mlp.c_proj")
    }

    /// `export --format huggingface` of a LoRA checkpoint writes W + scale·B·A in GPT-2's layout.
    func testHuggingFaceExportMergesTheAdapters() throws {
        let (model, optimizer) = try trained()
        let path = folder.appendingPathComponent("ckpt.h5").path
        try Checkpoint.write(to: path, model: model, optimizer: optimizer, config: settings(), state: nil, tokenizer: nil)
        let contents = try Checkpoint.read(path: path)
        let out = folder.appendingPathComponent("hf").path
        let notes = try HuggingFaceExport.write(contents, to: out)
        XCTAssertTrue(notes.contains { $0.contains("merged into the weights") }, "\(notes)")
        let file = try SafeTensorsFile(path: out + "/model.safetensors")
        let merged = LoRAMerge.merged(base: Array(model.parameters), model: model.config, lora: model.lora!.config,
                                      adapters: Array(model.lora!.parameters))
        for tensor in model.layout.tensors {
            var expected = Array(merged[tensor.range])
            if GPT2TensorMap.conv1DWeights.contains(where: { tensor.name.hasSuffix("." + $0) }) {
                let (rows, columns) = (tensor.shape[0], tensor.shape[1])
                expected = (0..<(rows * columns)).map { k in merged[tensor.offset + (k % rows) * columns + k / rows] }
            }
            XCTAssertEqual(try file.floats(tensor.name).map(\.bitPattern), expected.map(\.bitPattern), tensor.name)
        }
        // The adapted weights did change.
        let name = "transformer.h.0.attn.c_attn.weight", w = model.layout.tensor(named: name)!
        XCTAssertNotEqual(Array(merged[w.range]), Array(model.parameters[w.range]))
        // Read back as a plain model, the merge gives the adapted model's logits.
        let again = try HuggingFaceImport.read(directory: out, dropout: 0).contents
        let plain = try makeTinyModel()
        again.parameters.withUnsafeBufferPointer { _ = plain.parameters.update(fromContentsOf: $0) }
        let inputs = randomTokens(12, vocab: 11, seed: 9)
        model.isTraining = false
        try model.forward(inputs: inputs, targets: nil, batchSize: 2, sequenceLength: 6)
        try plain.forward(inputs: inputs, targets: nil, batchSize: 2, sequenceLength: 6)
        assertClose(Array(plain.logits), Array(model.logits), relative: 1e-5, "exported merge vs adapters")
    }

    /// `--adapters-only`: PEFT's names and shapes, bit for bit, and adapter_config.json field by field.
    func testPEFTAdapterDirectory() throws {
        let (model, optimizer) = try trained()
        let path = folder.appendingPathComponent("ckpt.h5").path
        try Checkpoint.write(to: path, model: model, optimizer: optimizer, config: settings(), state: nil, tokenizer: nil,
                             loraBase: try fixtureDirectory)
        let out = folder.appendingPathComponent("peft").path
        let notes = try PEFTExport.write(try Checkpoint.read(path: path), to: out, checkpointPath: path)
        XCTAssertEqual(notes, [])
        let file = try SafeTensorsFile(path: out + "/adapter_model.safetensors")
        XCTAssertEqual(file.metadata, ["format": "pt"])
        XCTAssertEqual(file.entries.count, 8)
        let a = try XCTUnwrap(file.entry(named: "base_model.model.transformer.h.0.attn.c_attn.lora_A.weight"))
        XCTAssertEqual(a.shape, [2, 8])
        XCTAssertEqual(file.entry(named: "base_model.model.transformer.h.0.attn.c_attn.lora_B.weight")?.shape, [24, 2])
        XCTAssertEqual(file.entry(named: "base_model.model.transformer.h.1.mlp.c_fc.lora_A.weight")?.shape, [2, 8])
        XCTAssertEqual(file.entry(named: "base_model.model.transformer.h.1.mlp.c_fc.lora_B.weight")?.shape, [32, 2])
        for tensor in model.lora!.layout.tensors {
            XCTAssertEqual(try file.floats("base_model.model." + tensor.name).map(\.bitPattern),
                           model.lora!.parameters[tensor.range].map(\.bitPattern), tensor.name)
        }
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/adapter_config.json"))) as? [String: Any])
        XCTAssertEqual(json["peft_type"] as? String, "LORA")
        XCTAssertEqual(json["task_type"] as? String, "CAUSAL_LM")
        XCTAssertEqual(json["r"] as? Int, 2)
        XCTAssertEqual(json["lora_alpha"] as? Int, 6)
        XCTAssertEqual(json["lora_dropout"] as? Double, 0.1)
        XCTAssertEqual(json["target_modules"] as? [String], ["c_attn", "c_fc"])
        XCTAssertEqual(json["fan_in_fan_out"] as? Bool, true)
        XCTAssertEqual(json["bias"] as? String, "none")
        XCTAssertEqual(json["base_model_name_or_path"] as? String, try fixtureDirectory)

        // A checkpoint without adapters cannot export them; an unknown base is null, said in a note.
        let plainPath = folder.appendingPathComponent("plain.h5").path
        let plain = try makeTinyModel()
        var plainSettings = settings()
        plainSettings.lora_rank = 0
        try Checkpoint.write(to: plainPath, model: plain, optimizer: nil, config: plainSettings, state: nil, tokenizer: nil)
        XCTAssertEqual(message { try PEFTExport.write(try Checkpoint.read(path: plainPath), to: out + "2", checkpointPath: plainPath) },
                       "\(plainPath): has no LoRA adapters (/lora): --adapters-only needs a checkpoint trained with lora_rank > 0")
        try Checkpoint.write(to: path, model: model, optimizer: optimizer, config: settings(), state: nil, tokenizer: nil)
        let unknown = try PEFTExport.write(try Checkpoint.read(path: path), to: out, overwrite: true, checkpointPath: path)
        XCTAssertEqual(unknown.count, 1)
        let again = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/adapter_config.json"))) as? [String: Any])
        XCTAssertTrue(again["base_model_name_or_path"] is NSNull)
    }
}
