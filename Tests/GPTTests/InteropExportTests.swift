import Foundation
@testable import GPT
import SafeTensors
import XCTest

/// Exporting a model as a Hugging Face GPT-2 directory: what transformers saved comes back bit
/// for bit, and every file says what GPT2LMHeadModel and AutoTokenizer expect.
final class InteropExportTests: InteropTestCase {
    func testExportThenImportIsBitIdenticalAndEqualsTransformersOwnFile() throws {
        let imported = try HuggingFaceImport.read(directory: try fixtureDirectory)
        let out = folder.appendingPathComponent("hf").path
        let notes = try HuggingFaceExport.write(imported.contents, to: out)
        XCTAssertEqual(notes, [])
        let again = try HuggingFaceImport.read(directory: out)
        XCTAssertEqual(again.contents.modelConfig, imported.contents.modelConfig)
        XCTAssertEqual(again.contents.parameters.map(\.bitPattern), imported.contents.parameters.map(\.bitPattern))
        // Tensor by tensor, the exported file holds what transformers wrote.
        let original = try SafeTensorsFile(path: try fixtureDirectory + "/model.safetensors")
        let exported = try SafeTensorsFile(path: out + "/model.safetensors")
        XCTAssertEqual(Set(exported.entries.map(\.name)), Set(original.entries.map(\.name)))
        for entry in original.entries {
            XCTAssertEqual(try exported.floats(entry.name).map(\.bitPattern), try original.floats(entry.name).map(\.bitPattern), entry.name)
        }
    }

    func testConfigAndSafetensorsHeaderFieldByField() throws {
        let imported = try HuggingFaceImport.read(directory: try fixtureDirectory)
        let out = folder.appendingPathComponent("hf").path
        try HuggingFaceExport.write(imported.contents, to: out)
        let config = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/config.json"))) as? [String: Any])
        XCTAssertEqual(config["model_type"] as? String, "gpt2")
        XCTAssertEqual(config["architectures"] as? [String], ["GPT2LMHeadModel"])
        for (key, value) in ["n_layer": 2, "n_head": 2, "n_embd": 32, "n_positions": 64, "vocab_size": 400, "bos_token_id": 0, "eos_token_id": 0] {
            XCTAssertEqual((config[key] as? NSNumber)?.intValue, value, key)
        }
        for key in ["resid_pdrop", "embd_pdrop", "attn_pdrop"] { XCTAssertEqual((config[key] as? NSNumber)?.doubleValue, 0.1, key) }
        XCTAssertEqual((config["layer_norm_epsilon"] as? NSNumber)?.doubleValue, 1e-5)
        XCTAssertEqual(config["activation_function"] as? String, "gelu")
        XCTAssertTrue(config["n_inner"] is NSNull)
        XCTAssertEqual(config["tie_word_embeddings"] as? Bool, true)
        XCTAssertEqual(config["scale_attn_weights"] as? Bool, true)
        XCTAssertEqual(config["scale_attn_by_inverse_layer_idx"] as? Bool, false)
        XCTAssertEqual(config["add_cross_attention"] as? Bool, false)
        // And it reads back as the same model.
        XCTAssertEqual(try HuggingFaceConfig.read(path: out + "/config.json").model, GPTConfig(nLayer: 2, nHead: 2, nEmbd: 32, blockSize: 64, vocabSize: 400, bias: true, dropout: 0))

        let generation = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/generation_config.json"))) as? [String: Any])
        XCTAssertEqual((generation["bos_token_id"] as? NSNumber)?.intValue, 0)
        XCTAssertEqual((generation["eos_token_id"] as? NSNumber)?.intValue, 0)

        let file = try SafeTensorsFile(path: out + "/model.safetensors")
        XCTAssertEqual(file.metadata, ["format": "pt"])
        XCTAssertNil(file.entry(named: "lm_head.weight"), "tied: transformers drops it too")
        XCTAssertEqual(file.entries.count, 2 + 2 * 12 + 2)
        var offset = 0
        for entry in file.entries {
            XCTAssertEqual(entry.dtype, .f32, entry.name)
            XCTAssertEqual(entry.dataOffsets.lowerBound, offset, "\(entry.name) follows the previous tensor")
            offset = entry.dataOffsets.upperBound
        }
        let shapes: [String: [Int]] = [
            "transformer.wte.weight": [400, 32], "transformer.wpe.weight": [64, 32],
            "transformer.h.0.ln_1.weight": [32], "transformer.h.0.ln_1.bias": [32],
            "transformer.h.0.attn.c_attn.weight": [32, 96], "transformer.h.0.attn.c_attn.bias": [96],
            "transformer.h.1.attn.c_proj.weight": [32, 32], "transformer.h.1.attn.c_proj.bias": [32],
            "transformer.h.0.mlp.c_fc.weight": [32, 128], "transformer.h.0.mlp.c_fc.bias": [128],
            "transformer.h.1.mlp.c_proj.weight": [128, 32], "transformer.h.1.mlp.c_proj.bias": [32],
            "transformer.ln_f.weight": [32], "transformer.ln_f.bias": [32],
        ]
        for (name, shape) in shapes { XCTAssertEqual(file.entry(named: name)?.shape, shape, name) }
        // The header is 8-byte aligned, as the reference writer pads it.
        let raw = try FileHandle(forReadingFrom: URL(fileURLWithPath: out + "/model.safetensors")).readData(ofLength: 8)
        XCTAssertEqual(raw.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) } % 8, 0)
    }

    func testTokenizerFilesLoadBackAsTheSameTokenizer() throws {
        let imported = try HuggingFaceImport.read(directory: try fixtureDirectory)
        let out = folder.appendingPathComponent("hf").path
        try HuggingFaceExport.write(imported.contents, to: out)
        let original = try XCTUnwrap(imported.contents.tokenizer as? BPETokenizer)
        let files = try BPETokenizer.load(directory: URL(fileURLWithPath: out))
        let fromJSON = try HuggingFaceTokenizerFiles.readTokenizerJSON(path: out + "/tokenizer.json")
        let fromTransformers = try HuggingFaceTokenizerFiles.readTokenizerJSON(path: try fixtureDirectory + "/tokenizer.json")
        for tokenizer in [files, fromJSON, fromTransformers] {
            XCTAssertEqual(tokenizer.vocabularyJSON, original.vocabularyJSON)
            XCTAssertEqual(tokenizer.mergesText, original.mergesText)
        }
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/tokenizer.json"))) as? [String: Any])
        let added = try XCTUnwrap(json["added_tokens"] as? [[String: Any]])
        XCTAssertEqual(added.first?["content"] as? String, "<|endoftext|>")
        XCTAssertEqual((added.first?["id"] as? NSNumber)?.intValue, 0)
        let tokenizerConfig = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/tokenizer_config.json"))) as? [String: Any])
        XCTAssertEqual(tokenizerConfig["tokenizer_class"] as? String, "GPT2Tokenizer")
        XCTAssertEqual(tokenizerConfig["eos_token"] as? String, "<|endoftext|>")
        XCTAssertEqual((tokenizerConfig["model_max_length"] as? NSNumber)?.intValue, 64)
    }

    func testModelWithoutBiasesExportsZeroBiasesAndComputesTheSame() throws {
        let config = GPTConfig(nLayer: 2, nHead: 2, nEmbd: 16, blockSize: 8, vocabSize: 50, bias: false, dropout: 0)
        let model = try GPTModel(config: config, seed: 3, threads: 1)
        model.isTraining = false
        let contents = CheckpointContents(modelConfig: config, settings: [:], parameters: Array(model.parameters))
        let out = folder.appendingPathComponent("nobias").path
        let notes = try HuggingFaceExport.write(contents, to: out)
        XCTAssertTrue(notes.contains { $0.contains("written as zeros") }, "\(notes)")
        XCTAssertTrue(notes.contains { $0.contains("no tokenizer") }, "\(notes)")
        let imported = try HuggingFaceImport.read(directory: out)
        XCTAssertTrue(imported.contents.modelConfig.bias)
        let layout = ParameterLayout(config: imported.contents.modelConfig)
        for tensor in layout.tensors where tensor.name.hasSuffix(".bias") {
            XCTAssertEqual(Set(imported.contents.parameters[tensor.range]), [0], tensor.name)
        }
        let biased = try GPTModel(config: imported.contents.modelConfig, seed: 0, threads: 1)
        _ = biased.parameters.update(fromContentsOf: imported.contents.parameters)
        biased.isTraining = false
        let inputs: [Int32] = [1, 7, 3, 49, 0, 12, 5, 5]
        try model.forward(inputs: inputs, targets: nil, batchSize: 1, sequenceLength: 8)
        try biased.forward(inputs: inputs, targets: nil, batchSize: 1, sequenceLength: 8)
        assertClose(Array(biased.logits), Array(model.logits), relative: 1e-6, "zero biases change nothing")
    }

    func testCharacterTokenizerIsWrittenBesideAsJSON() throws {
        let config = GPTConfig(nLayer: 1, nHead: 1, nEmbd: 16, blockSize: 8, vocabSize: 5, bias: true, dropout: 0)
        let model = try GPTModel(config: config, seed: 1, threads: 1)
        let tokenizer = try CharTokenizer(vocabulary: "\n abé")
        let contents = CheckpointContents(modelConfig: config, settings: [:], parameters: Array(model.parameters), tokenizer: tokenizer)
        let out = folder.appendingPathComponent("char").path
        let notes = try HuggingFaceExport.write(contents, to: out)
        XCTAssertEqual(notes.count, 1)
        XCTAssertTrue(notes[0].hasPrefix("the tokenizer is character-level, not a Hugging Face one"), notes[0])
        XCTAssertFalse(FileManager.default.fileExists(atPath: out + "/vocab.json"))
        let vocabulary = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/char_vocab.json"))) as? [String: Any])
        XCTAssertEqual(vocabulary["characters"] as? [String], ["\n", " ", "a", "b", "é"])
        let config2 = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/config.json"))) as? [String: Any])
        XCTAssertTrue(config2["eos_token_id"] is NSNull)
        XCTAssertEqual(try HuggingFaceImport.read(directory: out).contents.parameters, contents.parameters)
    }

    func testExistingFilesAreKeptUnlessReplaced() throws {
        let imported = try HuggingFaceImport.read(directory: try fixtureDirectory)
        let out = folder.appendingPathComponent("hf").path
        try HuggingFaceExport.write(imported.contents, to: out)
        XCTAssertEqual(message { try HuggingFaceExport.write(imported.contents, to: out) },
                       "\(out)/config.json: already exists (use --force to replace it)")
        XCTAssertNoThrow(try HuggingFaceExport.write(imported.contents, to: out, overwrite: true))
        let file = folder.appendingPathComponent("plain").path
        _ = FileManager.default.createFile(atPath: file, contents: Data())
        XCTAssertEqual(message { try HuggingFaceExport.write(imported.contents, to: file) }, "\(file): exists and is not a directory")
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: out).filter { $0.contains("tmp") }
        XCTAssertEqual(leftovers, [], "no temporary files left")
    }
}
