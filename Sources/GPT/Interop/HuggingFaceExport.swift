import Foundation
import SafeTensors

/// Writes a gpt-dist model as a Hugging Face `GPT2LMHeadModel` directory that transformers
/// loads with no code of ours: `config.json`, `model.safetensors` (GPT-2's names, Conv1D
/// layout, float32, `lm_head` left tied), `generation_config.json`, and for a BPE tokenizer
/// `vocab.json`, `merges.txt`, `tokenizer.json`, `tokenizer_config.json` and
/// `special_tokens_map.json`. A character-level tokenizer is not a Hugging Face one: its
/// vocabulary goes beside the model as `char_vocab.json`.
public enum HuggingFaceExport {
    /// Every file name the export may write.
    public static let fileNames = [HuggingFaceConfig.fileName, HuggingFaceWeights.fileName, "generation_config.json",
                                   "vocab.json", "merges.txt", HuggingFaceTokenizerFiles.tokenizerJSONName,
                                   HuggingFaceTokenizerFiles.tokenizerConfigName, HuggingFaceTokenizerFiles.specialTokensMapName,
                                   HuggingFaceTokenizerFiles.characterVocabularyName]

    /// Makes `directory` (or checks that it is one) and refuses to replace any of `names` in it
    /// unless `overwrite`; returns the path of a file name inside it.
    static func outputFolder(_ directory: String, replacing names: [String], overwrite: Bool) throws -> (String) -> String {
        let fm = FileManager.default
        var isDirectory: ObjCBool = false
        if fm.fileExists(atPath: directory, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else { throw HuggingFaceError(path: directory, "exists and is not a directory") }
        } else {
            do { try fm.createDirectory(atPath: directory, withIntermediateDirectories: true) } catch {
                throw HuggingFaceError(path: directory, "cannot create the directory: \(error.localizedDescription)")
            }
        }
        let path = { (name: String) in (directory as NSString).appendingPathComponent(name) }
        if !overwrite, let existing = names.first(where: { fm.fileExists(atPath: path($0)) }) {
            throw HuggingFaceError(path: path(existing), "already exists (use --force to replace it)")
        }
        return path
    }

    /// Writes `contents` into `directory` (created if missing); each file goes to a temporary
    /// name and is renamed when complete. Files already there are replaced only when `overwrite`.
    /// Returns what the user should know (zero biases added, a tokenizer that is not Hugging Face's, ...).
    /// A checkpoint with LoRA adapters is exported with them merged into the weights.
    @discardableResult
    public static func write(_ checkpoint: CheckpointContents, to directory: String, overwrite: Bool = false) throws -> [String] {
        // LoRA adapters go into the weights they adapt: W + scale·B·A.
        let contents = checkpoint.merged
        return try contents.parameters.withUnsafeBufferPointer { flat in
            try write(checkpoint, merged: contents, to: directory, overwrite: overwrite) { UnsafeBufferPointer(rebasing: flat[$0.range]) }
        }
    }

    /// Exports the checkpoint at `checkpoint` as `write(_:to:overwrite:)` does, reading its model
    /// a tensor at a time as the safetensors file is written (no flat buffer of the model; the
    /// disk writes the first tensors while the later are read). A checkpoint with LoRA adapters
    /// is read whole, to merge them. Returns the model's shape and the notes.
    public static func write(checkpointAt checkpoint: String, to directory: String,
                             overwrite: Bool = false) throws -> (model: GPTConfig, notes: [String]) {
        let header = try Checkpoint.read(path: checkpoint, modelTensors: false)
        if header.lora != nil || !header.parameters.isEmpty {
            let contents = header.lora != nil ? try Checkpoint.read(path: checkpoint) : header
            return (contents.modelConfig, try write(contents, to: directory, overwrite: overwrite))
        }
        let reader = try Checkpoint.ModelTensorReader(path: checkpoint)
        let largest = ParameterLayout(config: header.modelConfig).tensors.map(\.count).max() ?? 0
        let loaded = UnsafeMutableBufferPointer<Float>.allocate(capacity: largest)
        defer { loaded.deallocate() }
        let notes = try write(header, merged: header, to: directory, overwrite: overwrite) { tensor in
            let part = UnsafeMutableBufferPointer(rebasing: loaded[0..<tensor.count])
            try reader.read(tensor, into: part)
            return UnsafeBufferPointer(part)
        }
        return (header.modelConfig, notes)
    }

    /// `write(_:to:overwrite:)` of `checkpoint` whose adapters are merged in `contents`, with
    /// the model's tensors from `tensor` (each valid until the next call).
    static func write(_ checkpoint: CheckpointContents, merged contents: CheckpointContents, to directory: String,
                      overwrite: Bool, tensor: (TensorView) throws -> UnsafeBufferPointer<Float>) throws -> [String] {
        let path = try outputFolder(directory, replacing: fileNames, overwrite: overwrite)
        func save(_ data: Data, _ name: String) throws {
            do { try data.write(to: URL(fileURLWithPath: path(name)), options: .atomic) } catch {
                throw HuggingFaceError(path: path(name), "cannot write: \(error.localizedDescription)")
            }
        }
        var notes: [String] = []
        if let lora = checkpoint.lora?.config {
            notes.append("the LoRA adapters (rank \(lora.rank) on \(lora.targetList), scale \(lora.scale)) are merged into the weights; --adapters-only writes them apart in PEFT's layout")
        }
        let model = contents.modelConfig
        if !model.bias {
            notes.append("the model has no biases (bias: false); GPT-2 always has them, so they are written as zeros")
        }
        try writeWeights(contents, to: path(HuggingFaceWeights.fileName), tensor: tensor)

        var endOfText: Int?
        switch contents.tokenizer {
        case let bpe as BPETokenizer:
            endOfText = bpe.endOfTextID.map(Int.init)
            do { try bpe.write(to: URL(fileURLWithPath: directory), overwrite: true) } catch {
                throw HuggingFaceError(path: directory, "\(error)")
            }
            try save(HuggingFaceTokenizerFiles.tokenizerJSON(for: bpe), HuggingFaceTokenizerFiles.tokenizerJSONName)
            try save(HuggingFaceTokenizerFiles.tokenizerConfigJSON(for: bpe, maxLength: model.blockSize),
                     HuggingFaceTokenizerFiles.tokenizerConfigName)
            try save(HuggingFaceTokenizerFiles.specialTokensMapJSON(for: bpe), HuggingFaceTokenizerFiles.specialTokensMapName)
            if bpe.vocabularySize < model.vocabSize {
                notes.append("vocab_size \(model.vocabSize) is larger than the tokenizer's \(bpe.vocabularySize) tokens (padded); the extra rows are exported too")
            }
        case let char as CharTokenizer:
            try save(HuggingFaceTokenizerFiles.characterVocabularyJSON(for: char), HuggingFaceTokenizerFiles.characterVocabularyName)
            notes.append("the tokenizer is character-level, not a Hugging Face one: its \(char.vocabularySize) characters are in \(path(HuggingFaceTokenizerFiles.characterVocabularyName)) (id i is the i-th); AutoTokenizer cannot load it")
        case nil:
            notes.append("the checkpoint has no tokenizer: only the model is exported")
        default:
            notes.append("the checkpoint's \(contents.tokenizer!.kind.rawValue) tokenizer has no Hugging Face form: only the model is exported")
        }
        try save(HuggingFaceConfig.json(for: model, dropout: model.dropout, bosTokenID: endOfText, eosTokenID: endOfText),
                 HuggingFaceConfig.fileName)
        try save(HuggingFaceConfig.generationJSON(bosTokenID: endOfText, eosTokenID: endOfText), "generation_config.json")
        return notes
    }

    /// `model.safetensors`: every tensor of a GPT-2 of the model's shape (with biases), Conv1D
    /// weights transposed, streamed one tensor at a time; biases the model lacks are zeros.
    static func writeWeights(_ contents: CheckpointContents, to path: String,
                             tensor read: (TensorView) throws -> UnsafeBufferPointer<Float>) throws {
        var full = contents.modelConfig
        full.bias = true
        let source = ParameterLayout(config: contents.modelConfig)
        let map = GPT2TensorMap(layout: ParameterLayout(config: full))
        let writer = try SafeTensorsWriter(path: path, entries: map.entries.map { .init(name: $0.name, shape: $0.huggingFaceShape) })
        // Room for what is written from here: a transpose, or zeros for a bias the model lacks.
        let staging = map.entries.filter { $0.isConv1D || source.tensor(named: $0.name) == nil }.map(\.tensor.count).max() ?? 0
        var scratch = [Float](repeating: 0, count: staging)
        try scratch.withUnsafeMutableBufferPointer { scratch in
            for entry in map.entries {
                let tensor = source.tensor(named: entry.name)
                let staged = UnsafeMutableBufferPointer(rebasing: scratch[0..<(entry.isConv1D || tensor == nil ? entry.tensor.count : 0)])
                if let tensor {
                    let values = try read(tensor)
                    if entry.isConv1D {
                        GPT2TensorMap.transpose(values, rows: tensor.shape[0], columns: tensor.shape[1], into: staged)
                    } else {
                        try writer.write(values)
                        continue
                    }
                } else {
                    staged.update(repeating: 0)
                }
                try writer.write(UnsafeBufferPointer(staged))
            }
        }
        try writer.finish()
    }
}
