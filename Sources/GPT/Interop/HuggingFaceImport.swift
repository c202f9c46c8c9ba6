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
        let opened = try Opened(directory: directory, dropout: dropout)
        let layout = opened.layout
        var parameters = [Float](repeating: 0, count: layout.count)
        let scratchCount = opened.map.entries.filter(\.isConv1D).map(\.tensor.count).max() ?? 0
        var scratch = [Float](repeating: 0, count: scratchCount)
        try parameters.withUnsafeMutableBufferPointer { flat in
            try scratch.withUnsafeMutableBufferPointer { scratch in
                for (entry, located) in zip(opened.map.entries, opened.located) {
                    let target = UnsafeMutableBufferPointer(rebasing: flat[entry.tensor.range])
                    if entry.isConv1D {
                        let staged = UnsafeMutableBufferPointer(rebasing: scratch[0..<entry.tensor.count])
                        try located.file.read(located.entry.name, into: staged)
                        GPT2TensorMap.transpose(UnsafeBufferPointer(staged), rows: entry.huggingFaceShape[0],
                                                columns: entry.huggingFaceShape[1], into: target)
                    } else {
                        try located.file.read(located.entry.name, into: target)
                    }
                }
            }
        }
        if let head = opened.head { try checkTied(head, parameters: parameters, layout: layout) }
        return HuggingFaceImport(contents: CheckpointContents(modelConfig: opened.model, settings: opened.settingsTable,
                                                              parameters: parameters, tokenizer: opened.tokenizer),
                                 settings: opened.settings, notes: opened.notes)
    }

    /// What an import wrote.
    public struct Written {
        public var modelConfig: GPTConfig
        public var tokenizer: (any Tokenizer)?
        public var notes: [String]
    }

    /// Reads the model directory at `directory` (as `read`) and writes it as a gpt-dist
    /// checkpoint at `path` (atomically, as every checkpoint). Float32 tensors go from the mapped
    /// file into the checkpoint's chunks a chunk at a time, transposed on the way where GPT-2
    /// keeps Conv1D's layout, with no flat buffer of the model: the disk writes the first
    /// tensors while the later ones are read. Other dtypes, or a stored `lm_head` to check
    /// against `wte`, take `read` and `write(to:)`.
    public static func write(directory: String, dropout: Double? = nil, to path: String) throws -> Written {
        let opened = try Opened(directory: directory, dropout: dropout)
        let streams = opened.head == nil && opened.located.allSatisfy {
            $0.entry.dtype == .f32 && Int(bitPattern: $0.file.rawBytes(of: $0.entry).baseAddress) % MemoryLayout<Float>.alignment == 0
        }
        guard streams else {
            let imported = try read(directory: directory, dropout: dropout)
            try imported.write(to: path)
            return Written(modelConfig: imported.contents.modelConfig, tokenizer: imported.contents.tokenizer, notes: imported.notes)
        }
        var sources: [String: (entry: GPT2TensorMap.Entry, located: HuggingFaceWeights.Located)] = [:]
        for (entry, located) in zip(opened.map.entries, opened.located) { sources[entry.name] = (entry, located) }
        let rows: Checkpoint.TensorRows = { tensor, rows, destination in
            let (entry, located) = sources[tensor.name]!
            let values = located.file.rawBytes(of: located.entry).bindMemory(to: Float.self)
            let shape = entry.huggingFaceShape
            if entry.isConv1D {
                GPT2TensorMap.transpose(values, rows: shape[0], columns: shape[1], outputRows: rows, into: destination)
            } else {
                let columns = tensor.count / max(1, tensor.shape.first ?? 1)
                _ = destination.initialize(from: UnsafeBufferPointer(rebasing: values[(rows.lowerBound * columns)..<(rows.upperBound * columns)]))
            }
            if rows.upperBound == (tensor.shape.first ?? 1) { located.file.release(located.entry) }
        }
        try Checkpoint.write(to: path, tensors: rows, layout: opened.layout, optimizer: nil, config: opened.settings,
                             state: nil, tokenizer: opened.tokenizer)
        return Written(modelConfig: opened.model, tokenizer: opened.tokenizer, notes: opened.notes)
    }

    /// A model directory checked against its config.json: every tensor there and of the right
    /// shape, its tokenizer, the checkpoint's settings; no tensor data read yet.
    struct Opened {
        var model: GPTConfig
        var notes: [String]
        let weights: HuggingFaceWeights
        let layout: ParameterLayout
        let map: GPT2TensorMap
        /// Where each of `map.entries` is.
        var located: [HuggingFaceWeights.Located] = []
        /// A stored `lm_head.weight`, to check against `wte`.
        var head: HuggingFaceWeights.Located?
        var tokenizer: (any Tokenizer)?
        var settings = TrainConfig()
        var settingsTable: [String: ConfigValue] = [:]

        init(directory: String, dropout: Double?) throws {
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
            self.model = model
            notes = hf.notes

            weights = try HuggingFaceWeights(directory: directory)
            layout = ParameterLayout(config: model)
            map = GPT2TensorMap(layout: layout)
            var used = Set<String>()
            for entry in map.entries {
                guard let found = weights.tensor(entry.name) else {
                    throw HuggingFaceError(path: weights.paths[0], "has no tensor '\(entry.name)' (needed by config.json's n_layer \(model.nLayer))")
                }
                guard found.entry.shape == entry.huggingFaceShape else {
                    throw HuggingFaceError(path: found.file.path, "tensor '\(found.entry.name)' has shape \(found.entry.shape), expected \(entry.huggingFaceShape) from config.json")
                }
                located.append(found)
                used.insert(GPT2TensorMap.unprefixed(entry.name))
            }
            for (name, found) in weights.tensors.sorted(by: { $0.key < $1.key }) where !used.contains(name) {
                if GPT2TensorMap.isMaskBuffer(name) { continue }
                if name == GPT2TensorMap.outputName {
                    head = found
                    continue
                }
                throw HuggingFaceError(path: found.file.path, "tensor '\(found.entry.name)' is not part of a GPT2LMHeadModel of config.json's shape")
            }

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

            settings.n_layer = model.nLayer
            settings.n_head = model.nHead
            settings.n_embd = model.nEmbd
            settings.block_size = model.blockSize
            settings.vocab_size = model.vocabSize
            settings.bias = true
            settings.dropout = chosen
            settings.init_from = directory
            for (name, value) in settings.allValues { settingsTable[name] = value }
        }
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
