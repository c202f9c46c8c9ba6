import Foundation
@testable import GPT
import SafeTensors
import XCTest

/// Importing a Hugging Face GPT-2 directory: nanoGPT's from_pretrained mapping, checked against
/// the logits and loss transformers computed on the fixture.
final class InteropImportTests: InteropTestCase {
    func testImportedModelGivesTransformersLogitsAndLoss() throws {
        let imported = try HuggingFaceImport.read(directory: try fixtureDirectory, dropout: 0)
        let config = imported.contents.modelConfig
        XCTAssertEqual(config, GPTConfig(nLayer: 2, nHead: 2, nEmbd: 32, blockSize: 64, vocabSize: 400, bias: true, dropout: 0))
        let model = try GPTModel(config: config, seed: 0, threads: 2)
        _ = model.parameters.update(fromContentsOf: imported.contents.parameters)
        model.isTraining = false

        let expected = try PyTorchFixture(name: "hf_gpt2_expected")
        let ids = try expected.ints("input_ids")
        let batch = 2, length = ids.count / batch - 1
        var inputs: [Int32] = [], targets: [Int32] = []
        for row in 0..<batch {
            let sequence = ids[(row * (length + 1))..<((row + 1) * (length + 1))]
            inputs += sequence.dropLast()
            targets += sequence.dropFirst()
        }
        try model.forward(inputs: inputs, targets: nil, batchSize: batch, sequenceLength: length)
        assertClose(Array(model.logits), try expected.floats("logits"), relative: 1e-5, "imported logits")
        let loss = try model.forward(inputs: inputs, targets: targets, batchSize: batch, sequenceLength: length)
        let expectedLoss = Float(try expected.attribute("/", "loss"))
        XCTAssertEqual(loss, expectedLoss, accuracy: 1e-5 * expectedLoss)
    }

    func testConv1DWeightsAreTransposedAndTheRestCopied() throws {
        let directory = try fixtureDirectory
        let imported = try HuggingFaceImport.read(directory: directory)
        let layout = ParameterLayout(config: imported.contents.modelConfig)
        let file = try SafeTensorsFile(path: directory + "/model.safetensors")
        let p = imported.contents.parameters
        for entry in GPT2TensorMap(layout: layout).entries {
            let stored = try file.floats(entry.name)
            let tensor = entry.tensor
            if entry.isConv1D {
                let (rows, columns) = (tensor.shape[0], tensor.shape[1])  // ours: [out, in]
                XCTAssertEqual(file.entry(named: entry.name)?.shape, [columns, rows], entry.name)
                for r in 0..<rows {
                    for c in 0..<columns where p[tensor.offset + r * columns + c] != stored[c * rows + r] {
                        return XCTFail("\(entry.name)[\(r), \(c)] is not the Conv1D weight's [\(c), \(r)]")
                    }
                }
            } else {
                XCTAssertEqual(Array(p[tensor.range]), stored, entry.name)
            }
        }
        XCTAssertEqual(GPT2TensorMap(layout: layout).entries.filter(\.isConv1D).count, 4 * 2)
        // lm_head is wte.
        XCTAssertEqual(layout.tensor(named: "lm_head.weight"), layout.tensor(named: "transformer.wte.weight"))
    }

    func testTokenizerDropoutAndSettingsComeFromTheDirectory() throws {
        let imported = try HuggingFaceImport.read(directory: try fixtureDirectory)
        XCTAssertEqual(imported.contents.modelConfig.dropout, 0.1, "resid/embd/attn_pdrop of config.json")
        XCTAssertEqual(try HuggingFaceImport.read(directory: try fixtureDirectory, dropout: 0.25).contents.modelConfig.dropout, 0.25)
        let tokenizer = try XCTUnwrap(imported.contents.tokenizer as? BPETokenizer)
        XCTAssertEqual(tokenizer.vocabularySize, 400)
        let expected = try PyTorchFixture(name: "hf_gpt2_expected")
        let text = String(decoding: try expected.dataset("text").read(as: UInt8.self), as: UTF8.self)
        XCTAssertEqual(try tokenizer.encode(text), try expected.ints("text_ids"), "the ids transformers' tokenizer gives")
        XCTAssertEqual(imported.settings.n_layer, 2)
        XCTAssertEqual(imported.settings.block_size, 64)
        XCTAssertEqual(imported.settings.vocab_size, 400)
        XCTAssertTrue(imported.settings.bias)
        XCTAssertEqual(imported.notes, [])
    }

    func testTokenizerJSONAloneIsEnough() throws {
        // transformers 5 saves tokenizer.json without vocab.json + merges.txt.
        let copy = try fixtureCopy()
        try FileManager.default.removeItem(atPath: copy + "/vocab.json")
        try FileManager.default.removeItem(atPath: copy + "/merges.txt")
        let tokenizer = try XCTUnwrap(try HuggingFaceImport.read(directory: copy).contents.tokenizer as? BPETokenizer)
        let original = try XCTUnwrap(try HuggingFaceImport.read(directory: try fixtureDirectory).contents.tokenizer as? BPETokenizer)
        XCTAssertEqual(tokenizer.vocabularyJSON, original.vocabularyJSON)
        XCTAssertEqual(tokenizer.mergesText, original.mergesText)
        try FileManager.default.removeItem(atPath: copy + "/tokenizer.json")
        let bare = try HuggingFaceImport.read(directory: copy)
        XCTAssertNil(bare.contents.tokenizer)
        XCTAssertEqual(bare.notes.count, 1)
        XCTAssertTrue(bare.notes[0].contains("no vocab.json + merges.txt or tokenizer.json"), bare.notes[0])
    }

    func testConfigKeysTheModelCannotTakeAreRefusedByName() throws {
        let copy = try fixtureCopy()
        let configPath = copy + "/config.json"
        func refusal(_ change: @escaping (inout [String: Any]) -> Void) throws -> String {
            try FileManager.default.removeItem(atPath: configPath)
            try FileManager.default.copyItem(atPath: try fixtureDirectory + "/config.json", toPath: configPath)
            try editConfig(copy, change)
            return message { _ = try HuggingFaceImport.read(directory: copy) }
        }
        XCTAssertEqual(try refusal { $0["n_inner"] = 64 }, "\(configPath): n_inner is 64; gpt-dist's MLP is 4 · n_embd = 128 wide")
        XCTAssertEqual(try refusal { $0["activation_function"] = "relu" }, "\(configPath): activation_function is 'relu'; gpt-dist's MLP uses GELU (gelu, gelu_new)")
        XCTAssertEqual(try refusal { $0["layer_norm_epsilon"] = 1e-6 }, "\(configPath): layer_norm_epsilon is 1e-06; gpt-dist's LayerNorm uses 1e-05")
        XCTAssertEqual(try refusal { $0["model_type"] = "llama" }, "\(configPath): model_type is 'llama'; gpt-dist imports GPT-2 (model_type gpt2)")
        XCTAssertEqual(try refusal { $0["scale_attn_by_inverse_layer_idx"] = true }, "\(configPath): scale_attn_by_inverse_layer_idx is true; gpt-dist's attention has no per-layer scale")
        XCTAssertEqual(try refusal { $0["tie_word_embeddings"] = false }, "\(configPath): tie_word_embeddings is false; gpt-dist ties lm_head to wte, as GPT-2 and nanoGPT do")
        XCTAssertEqual(try refusal { $0["add_cross_attention"] = true }, "\(configPath): add_cross_attention is true; gpt-dist's blocks have no cross-attention")
        XCTAssertEqual(try refusal { $0["n_head"] = 5 }, "\(configPath): n_embd 32 is not divisible by n_head 5")
        XCTAssertEqual(try refusal { $0["n_layer"] = "two" }, "\(configPath): n_layer is two, expected a number")
        XCTAssertEqual(try refusal { $0["attn_pdrop"] = 0.0 }, "\(configPath): resid_pdrop, embd_pdrop and attn_pdrop differ and gpt-dist has one dropout: set dropout")
        // Shapes the weights do not have.
        XCTAssertEqual(try refusal { $0["n_layer"] = 3 }, "\(copy)/model.safetensors: has no tensor 'transformer.h.2.ln_1.weight' (needed by config.json's n_layer 3)")
        XCTAssertEqual(try refusal { $0["n_positions"] = 32 }, "\(copy)/model.safetensors: tensor 'transformer.wpe.weight' has shape [64, 32], expected [32, 32] from config.json")
        XCTAssertEqual(try refusal { $0["n_layer"] = 1 }, "\(copy)/model.safetensors: tensor 'transformer.h.1.attn.c_attn.bias' is not part of a GPT2LMHeadModel of config.json's shape")
        // OpenAI's GPT-2 says gelu_new: imported as the exact GELU, with a note.
        try FileManager.default.removeItem(atPath: configPath)
        try FileManager.default.copyItem(atPath: try fixtureDirectory + "/config.json", toPath: configPath)
        try editConfig(copy) { $0["activation_function"] = "gelu_new"; $0["attn_pdrop"] = 0.0 }
        let imported = try HuggingFaceImport.read(directory: copy, dropout: 0)
        XCTAssertEqual(imported.notes.first?.hasPrefix("activation_function gelu_new"), true)
    }

    func testPrefixlessNamesMaskBuffersAndAStoredLMHeadCopy() throws {
        // OpenAI's own gpt2 upload: names without "transformer.", the attn.bias masks, lm_head stored.
        let original = try HuggingFaceImport.read(directory: try fixtureDirectory)
        let source = try SafeTensorsFile(path: try fixtureDirectory + "/model.safetensors")
        func rewrite(_ directory: String, extra: [(String, [Int], [Float])]) throws {
            var entries: [(String, [Int], [Float])] = try source.entries.map {
                (GPT2TensorMap.unprefixed($0.name), $0.shape, try source.floats($0.name))
            }
            entries += extra
            let writer = try SafeTensorsWriter(path: directory + "/model.safetensors", entries: entries.map { .init(name: $0.0, shape: $0.1) })
            for entry in entries { try entry.2.withUnsafeBufferPointer { try writer.write($0) } }
            try writer.finish()
        }
        let wte = try source.floats("transformer.wte.weight")
        let mask = [Float](repeating: 1, count: 64 * 64)
        let copy = try fixtureCopy()
        try rewrite(copy, extra: [("h.0.attn.bias", [1, 1, 64, 64], mask), ("h.1.attn.masked_bias", [], [-1e4]),
                                  ("lm_head.weight", [400, 32], wte)])
        let imported = try HuggingFaceImport.read(directory: copy)
        XCTAssertEqual(imported.contents.parameters.map(\.bitPattern), original.contents.parameters.map(\.bitPattern))

        var changed = wte
        changed[5] += 0.5
        try rewrite(copy, extra: [("lm_head.weight", [400, 32], changed)])
        XCTAssertEqual(message { _ = try HuggingFaceImport.read(directory: copy) },
                       "\(copy)/model.safetensors: tensor 'lm_head.weight' differs from transformer.wte.weight (by up to 0.5); gpt-dist ties them as GPT-2 does")
        try rewrite(copy, extra: [("score.weight", [2, 32], [Float](repeating: 0, count: 64))])
        XCTAssertEqual(message { _ = try HuggingFaceImport.read(directory: copy) },
                       "\(copy)/model.safetensors: tensor 'score.weight' is not part of a GPT2LMHeadModel of config.json's shape")
    }

    func testMissingFilesAreNamed() throws {
        let copy = try fixtureCopy()
        try FileManager.default.removeItem(atPath: copy + "/model.safetensors")
        XCTAssertEqual(message { _ = try HuggingFaceImport.read(directory: copy) },
                       "\(copy): has no model.safetensors or model.safetensors.index.json")
        _ = FileManager.default.createFile(atPath: copy + "/pytorch_model.bin", contents: Data([1]))
        XCTAssertTrue(message { _ = try HuggingFaceImport.read(directory: copy) }.contains("only pytorch_model.bin"))
        let nowhere = folder.appendingPathComponent("nowhere").path
        XCTAssertEqual(message { _ = try HuggingFaceImport.read(directory: nowhere) },
                       "\(nowhere): is not a directory (a Hugging Face model: config.json, model.safetensors)")
        // A truncated weights file is the safetensors layer's one line.
        let cut = try fixtureCopy("cut")
        let bytes = try Data(contentsOf: URL(fileURLWithPath: try fixtureDirectory + "/model.safetensors"))
        try bytes.prefix(bytes.count - 100).write(to: URL(fileURLWithPath: cut + "/model.safetensors"))
        XCTAssertTrue(message { _ = try HuggingFaceImport.read(directory: cut) }.hasPrefix("\(cut)/model.safetensors: tensor '"))
    }

    func testShardedWeightsThroughTheIndex() throws {
        let copy = try fixtureCopy()
        let source = try SafeTensorsFile(path: copy + "/model.safetensors")
        var map: [String: String] = [:]
        for (part, names) in [source.entries.prefix(10), source.entries.dropFirst(10)].enumerated() {
            let name = "model-0000\(part + 1)-of-00002.safetensors"
            let writer = try SafeTensorsWriter(path: copy + "/" + name, entries: names.map { .init(name: $0.name, shape: $0.shape) })
            for entry in names {
                try source.floats(entry.name).withUnsafeBufferPointer { try writer.write($0) }
                map[entry.name] = name
            }
            try writer.finish()
        }
        try FileManager.default.removeItem(atPath: copy + "/model.safetensors")
        try JSONSerialization.data(withJSONObject: ["metadata": ["total_size": 0], "weight_map": map])
            .write(to: URL(fileURLWithPath: copy + "/model.safetensors.index.json"))
        let sharded = try HuggingFaceImport.read(directory: copy)
        XCTAssertEqual(sharded.contents.parameters, try HuggingFaceImport.read(directory: try fixtureDirectory).contents.parameters)
    }

    func testImportedCheckpointReadsBackWithItsTokenizer() throws {
        let imported = try HuggingFaceImport.read(directory: try fixtureDirectory)
        let path = folder.appendingPathComponent("ckpt.h5").path
        try imported.write(to: path)
        let read = try Checkpoint.read(path: path)
        XCTAssertEqual(read.modelConfig, imported.contents.modelConfig)
        XCTAssertEqual(read.parameters.map(\.bitPattern), imported.contents.parameters.map(\.bitPattern))
        XCTAssertEqual((read.tokenizer as? BPETokenizer)?.vocabularyJSON, (imported.contents.tokenizer as? BPETokenizer)?.vocabularyJSON)
        XCTAssertNil(read.optimizer)
        XCTAssertEqual(read.settings["init_from"], .string(try fixtureDirectory))
    }
}

/// Half-precision weights (many fine-tunes are saved in BF16 or F16) import as their Float32 values.
final class InteropHalfPrecisionImportTests: InteropTestCase {
    func testBFloat16WeightsImportAsTheirFloatValues() throws {
        let copy = try fixtureCopy()
        let source = try SafeTensorsFile(path: copy + "/model.safetensors")
        // A BF16 file made by hand: each float's top 16 bits (round to nearest even).
        var header: [String] = [], data: [UInt8] = [], rounded: [String: [Float]] = [:]
        for entry in source.entries {
            let values = try source.floats(entry.name)
            var halves: [UInt16] = []
            for v in values {
                let bits = v.bitPattern
                halves.append(UInt16((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16))
            }
            rounded[entry.name] = halves.map { Float(bitPattern: UInt32($0) << 16) }
            let shape = entry.shape.map(String.init).joined(separator: ",")
            header.append("\"\(entry.name)\":{\"dtype\":\"BF16\",\"shape\":[\(shape)],\"data_offsets\":[\(data.count),\(data.count + 2 * halves.count)]}")
            data += halves.withUnsafeBytes { Array($0) }
        }
        let json = Array("{\(header.joined(separator: ","))}".utf8)
        var length = UInt64(json.count).littleEndian
        try Data(withUnsafeBytes(of: &length) { Array($0) } + json + data).write(to: URL(fileURLWithPath: copy + "/model.safetensors"))

        let imported = try HuggingFaceImport.read(directory: copy)
        let layout = ParameterLayout(config: imported.contents.modelConfig)
        for entry in GPT2TensorMap(layout: layout).entries {
            let expected = try XCTUnwrap(rounded[entry.name])
            let ours = Array(imported.contents.parameters[entry.tensor.range])
            if entry.isConv1D {
                let (rows, columns) = (entry.tensor.shape[0], entry.tensor.shape[1])
                XCTAssertEqual(ours[1 * columns + 2], expected[2 * rows + 1], entry.name)
                XCTAssertEqual(ours.sorted(), expected.sorted(), entry.name)
            } else {
                XCTAssertEqual(ours, expected, entry.name)
            }
        }
        let full = try HuggingFaceImport.read(directory: try fixtureDirectory).contents.parameters
        XCTAssertNotEqual(imported.contents.parameters, full, "BF16 loses precision")
        for (a, b) in zip(imported.contents.parameters, full) { XCTAssertEqual(a, b, accuracy: abs(b) / 128 + 1e-30) }
    }
}
