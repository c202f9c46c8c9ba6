import Foundation
import SafeTensors

/// A Hugging Face `GPT2LMHeadModel` directory (config.json, model.safetensors, and when present
/// vocab.json + merges.txt) made into a gpt-dist model: nanoGPT's `from_pretrained` mapping
/// (`GPT2TensorMap`), biases on, the vocabulary as the config says (50,257 for OpenAI's GPT-2),
/// dropout from the config or the caller, and the directory's tokenizer.
public struct HuggingFaceImport {
    /// The model, its settings and tokenizer, as a checkpoint holds them (no optimizer or state).
    public var contents: CheckpointContents
    /// The settings written to the checkpoint's `/config` (defaults with the model's keys).
    public var settings: TrainConfig
    /// Things the user should know (an approximate GELU, a missing tokenizer, ...).
    public var notes: [String]

    /// Whether `path` is a directory with a `config.json` (a Hugging Face model, rather than a
    /// gpt-dist checkpoint file).
    public static func isModelDirectory(_ path: String) -> Bool {
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue
            && FileManager.default.fileExists(atPath: (path as NSString).appendingPathComponent(HuggingFaceConfig.fileName))
    }

    /// Reads the model directory at `directory`. `dropout` overrides the config's (required when
    /// its resid_pdrop, embd_pdrop and attn_pdrop differ). Every problem is one line naming the file.
    public static func read(directory: String, dropout: Double? = nil) throws -> HuggingFaceImport {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw HuggingFaceError(path: directory, "is not a directory (a Hugging Face model: config.json, model.safetensors)")
        }
        let configPath = (directory as NSString).appendingPathComponent(HuggingFaceConfig.fileName)
        guard FileManager.default.fileExists(atPath: configPath) else { throw HuggingFaceError(path: configPath, "no such file") }
        let hf = try HuggingFaceConfig.read(path: configPath)
        guard let chosen = dropout ?? hf.dropout else {
            throw HuggingFaceError(path: configPath, "resid_pdrop, embd_pdrop and attn_pdrop differ and gpt-dist has one dropout: set dropout")
        }
        var model = hf.model
        model.dropout = chosen
        do { try model.validate() } catch { throw HuggingFaceError(path: configPath, "\(error)") }
        var notes = hf.notes

        let weights = try HuggingFaceWeights(directory: directory)
        let layout = ParameterLayout(config: model)
        let map = GPT2TensorMap(layout: layout)
        var parameters = [Float](repeating: 0, count: layout.count)
        var used = Set<String>()
        let scratchCount = map.entries.filter(\.isConv1D).map(\.tensor.count).max() ?? 0
        var scratch = [Float](repeating: 0, count: scratchCount)
        try parameters.withUnsafeMutableBufferPointer { flat in
            try scratch.withUnsafeMutableBufferPointer { scratch in
                for entry in map.entries {
                    guard let located = weights.tensor(entry.name) else {
                        throw HuggingFaceError(path: weights.paths[0], "has no tensor '\(entry.name)' (needed by config.json's n_layer \(model.nLayer))")
                    }
                    guard located.entry.shape == entry.huggingFaceShape else {
                        throw HuggingFaceError(path: located.file.path, "tensor '\(located.entry.name)' has shape \(located.entry.shape), expected \(entry.huggingFaceShape) from config.json")
                    }
                    let target = UnsafeMutableBufferPointer(rebasing: flat[entry.tensor.range])
                    if entry.isConv1D {
                        let staged = UnsafeMutableBufferPointer(rebasing: scratch[0..<entry.tensor.count])
                        try located.file.read(located.entry.name, into: staged)
                        GPT2TensorMap.transpose(UnsafeBufferPointer(staged), rows: entry.huggingFaceShape[0],
                                                columns: entry.huggingFaceShape[1], into: target)
                    } else {
                        try located.file.read(located.entry.name, into: target)
                    }
                    used.insert(GPT2TensorMap.unprefixed(entry.name))
                }
            }
        }
        for (name, located) in weights.tensors.sorted(by: { $0.key < $1.key }) where !used.contains(name) {
            if GPT2TensorMap.isMaskBuffer(name) { continue }
            if name == GPT2TensorMap.outputName {
                try checkTied(located, parameters: parameters, layout: layout)
                continue
            }
            throw HuggingFaceError(path: located.file.path, "tensor '\(located.entry.name)' is not part of a GPT2LMHeadModel of config.json's shape")
        }

        var tokenizer: (any Tokenizer)?
        let fm = FileManager.default
        let vocab = (directory as NSString).appendingPathComponent("vocab.json")
        let merges = (directory as NSString).appendingPathComponent("merges.txt")
        let tokenizerJSON = (directory as NSString).appendingPathComponent(HuggingFaceTokenizerFiles.tokenizerJSONName)
        if fm.fileExists(atPath: vocab) && fm.fileExists(atPath: merges) {
            tokenizer = try BPETokenizer.load(vocabularyFile: URL(fileURLWithPath: vocab), mergesFile: URL(fileURLWithPath: merges))
        } else if fm.fileExists(atPath: tokenizerJSON) {
            tokenizer = try HuggingFaceTokenizerFiles.readTokenizerJSON(path: tokenizerJSON)
        } else {
            notes.append("\(directory) has no vocab.json + merges.txt or tokenizer.json: the checkpoint has no tokenizer (prepare data with the model's own tokenizer files)")
        }
        if let tokenizer, tokenizer.vocabularySize > model.vocabSize {
            throw HuggingFaceError(path: configPath, "vocab_size \(model.vocabSize) is smaller than the tokenizer's \(tokenizer.vocabularySize) tokens")
        }

        var settings = TrainConfig()
        settings.n_layer = model.nLayer
        settings.n_head = model.nHead
        settings.n_embd = model.nEmbd
        settings.block_size = model.blockSize
        settings.vocab_size = model.vocabSize
        settings.bias = true
        settings.dropout = chosen
        settings.init_from = directory
        var table: [String: ConfigValue] = [:]
        for (name, value) in settings.allValues { table[name] = value }
        return HuggingFaceImport(contents: CheckpointContents(modelConfig: model, settings: table, parameters: parameters,
                                                              tokenizer: tokenizer),
                                 settings: settings, notes: notes)
    }

    /// Writes the imported model as a gpt-dist checkpoint at `path` (atomically, as every checkpoint).
    public func write(to path: String) throws {
        try contents.parameters.withUnsafeBufferPointer { parameters in
            try Checkpoint.write(to: path, parameters: parameters, layout: ParameterLayout(config: contents.modelConfig),
                                 optimizer: nil, config: settings, state: nil, tokenizer: contents.tokenizer)
        }
    }

    /// A stored `lm_head.weight` must be the tied `wte` (transformers drops it when tied; an
    /// older file may carry a copy).
    private static func checkTied(_ located: HuggingFaceWeights.Located, parameters: [Float], layout: ParameterLayout) throws {
        let wte = layout.tensor(named: "transformer.wte.weight")!
        guard located.entry.shape == wte.shape else {
            throw HuggingFaceError(path: located.file.path, "tensor '\(located.entry.name)' has shape \(located.entry.shape), expected wte's \(wte.shape)")
        }
        let head = try located.file.floats(located.entry.name)
        let (difference, isTied) = Checkpoint.tiedCopyDifference(head, of: wte, in: parameters)
        if !isTied {
            throw HuggingFaceError(path: located.file.path, "tensor '\(located.entry.name)' differs from transformer.wte.weight (by up to \(difference)); gpt-dist ties them as GPT-2 does")
        }
    }
}
