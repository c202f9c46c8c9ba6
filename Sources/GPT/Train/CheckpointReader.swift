import Foundation
import HDF5

extension Checkpoint {
    /// Reads the checkpoint at `path`: ours, or one a third party wrote in this layout from a
    /// PyTorch nanoGPT state_dict (lm_head.weight may then be a separate copy, tensors may be
    /// float64, keys may carry torch.compile's `_orig_mod.` prefix, and attn.bias mask buffers
    /// are ignored). `/optimizer`, `/state`, `/tokenizer` and `/lora` are read when present.
    public static func read(path: String) throws -> CheckpointContents {
        try read(path: path, modelTensors: true)
    }

    /// `read(path:)`, or without `modelTensors` everything but the model's tensors and the
    /// optimizer's moments: `parameters` is then empty, unless the file's `lm_head.weight` is a
    /// separate copy (which is checked against `wte`, so both are read). `ModelTensorReader`
    /// reads the tensors one at a time.
    static func read(path: String, modelTensors: Bool) throws -> CheckpointContents {
        let file = try H5File.open(at: path)
        defer { file.close() }
        func invalid(_ problem: String) -> CheckpointError { .invalid(path: path, problem: problem) }

        guard try file.kind(of: "config") == .group else { throw invalid("not a checkpoint: no /config group") }
        guard try file.kind(of: "model") == .group else { throw invalid("not a checkpoint: no /model group") }
        let configGroup = try file.group("config")
        var settings: [String: ConfigValue] = [:]
        for name in try configGroup.attributeNames() {
            switch try configGroup.attributeValue(name) {
            case .bool(let v): settings[name] = .bool(v)
            case .int(let v): settings[name] = .int(v)
            case .double(let v): settings[name] = .double(v)
            case .string(let v): settings[name] = .string(v)
            default: continue
            }
        }
        let modelGroup = try file.group("model")
        let names = try modelTensorNames(in: modelGroup)

        func integer(_ key: String) throws -> Int {
            switch settings[key] {
            case .int(let v)?: return v
            case .double(let v)? where v == v.rounded(): return Int(v)
            case nil: throw invalid("/config has no attribute '\(key)'")
            case let other?: throw invalid("/config attribute '\(key)' is \(other), expected an integer")
            }
        }
        // bias: a boolean, an int 0/1 or a string "True"/"False"; when absent, whether the file has biases.
        let bias: Bool
        switch settings["bias"] {
        case .int(let v)?: bias = v != 0
        case .double(let v)?: bias = v != 0
        case .string(let v)?: bias = ["true", "1", "yes"].contains(v.lowercased())
        case .bool(let v)?: bias = v
        case .null?, nil: bias = names["transformer.ln_f.bias"] != nil
        }
        var dropout = 0.0
        if case .double(let v)? = settings["dropout"] { dropout = v }
        if case .int(let v)? = settings["dropout"] { dropout = Double(v) }
        let config = GPTConfig(nLayer: try integer("n_layer"), nHead: try integer("n_head"), nEmbd: try integer("n_embd"),
                               blockSize: try integer("block_size"), vocabSize: try integer("vocab_size"), bias: bias,
                               dropout: dropout)
        do { try config.validate() } catch { throw invalid("/config: \(error)") }
        let layout = ParameterLayout(config: config)

        let separateHead = try names["lm_head.weight"].map { stored in
            try names["transformer.wte.weight"].map { try !modelGroup.isSameObject(stored, $0) } ?? false
        } ?? false
        let parameters = modelTensors || separateHead
            ? try readTensors(in: modelGroup, names: names, layout: layout, path: path, group: "/model") : []
        let known = Set(layout.stateDictNames)
        if let extra = names.keys.sorted().first(where: { !known.contains($0) }) {
            throw invalid("/model/\(names[extra]!) is not a tensor of a model with n_layer \(config.nLayer), bias \(bias)")
        }
        if let stored = names["lm_head.weight"], let wte = names["transformer.wte.weight"],
           try !modelGroup.isSameObject(stored, wte) {
            // A separate copy (PyTorch's state_dict has both keys): it must be the tied weight.
            let head = try modelGroup.dataset(stored)
            let values = try head.read(as: Float.self, conversion: .numeric)
            let tensor = layout.tensor(named: "transformer.wte.weight")!
            guard try head.shape == tensor.shape else {
                throw invalid("/model/\(stored) has shape \(try head.shape), expected \(tensor.shape)")
            }
            let (difference, isTied) = tiedCopyDifference(values, of: tensor, in: parameters)
            if !isTied {
                throw invalid("/model/\(stored) differs from transformer.wte.weight (by up to \(difference)); gpt-dist ties them as nanoGPT does")
            }
        }

        let lora = try readAdapters(file, model: config, path: path)
        var optimizer: OptimizerSnapshot?
        if modelTensors, try file.kind(of: "optimizer") == .group {
            let group = try file.group("optimizer")
            let step: Int = try group.attribute("step")
            // The moments of what trained: the adapters' when the base was frozen.
            let momentLayout: any FlatLayout = lora.map { LoRALayout(config: config, lora: $0.config) } ?? layout
            let momentGroup = try lora != nil ? file.group("lora") : group
            let prefix = lora != nil ? "/lora" : "/optimizer"
            var plain: [String: String] = [:]
            for t in momentLayout.tensors { plain[t.name] = t.name }
            for name in ["exp_avg", "exp_avg_sq"] {
                if try momentGroup.kind(of: name) != .group {
                    throw invalid("\(prefix) has no group '\(name)' (the moments of /optimizer)")
                }
            }
            let m = try readTensors(in: try momentGroup.group("exp_avg"), names: plain, layout: momentLayout, path: path,
                                    group: prefix + "/exp_avg")
            let v = try readTensors(in: try momentGroup.group("exp_avg_sq"), names: plain, layout: momentLayout, path: path,
                                    group: prefix + "/exp_avg_sq")
            optimizer = OptimizerSnapshot(stepCount: step, m: m, v: v)
        }
        var state: TrainingState?
        if try file.kind(of: "state") == .group {
            let group = try file.group("state")
            var stream: TorchGenerator?
            if try group.kind(of: "data_stream") == .dataset {
                do {
                    stream = try TorchGenerator(state: group.dataset("data_stream").read(as: UInt64.self))
                } catch {
                    throw CheckpointError.invalid(path: path, problem: "/state/data_stream: \(error)")
                }
            }
            state = TrainingState(iteration: try group.attribute("iter_num"), bestValLoss: try group.attribute("best_val_loss"),
                                  seed: try group.attribute("seed"), worldSize: (try? group.attribute("world_size", as: Int.self)) ?? 1,
                                  dataStream: stream)
        }
        var tokenizer: (any Tokenizer)?
        if try file.kind(of: "tokenizer") == .group {
            tokenizer = try TokenizerStore.load(from: try file.group("tokenizer"))
        }
        return CheckpointContents(modelConfig: config, settings: settings, parameters: parameters,
                                  optimizer: optimizer, state: state, tokenizer: tokenizer, lora: lora)
    }

    /// The LoRA adapters of `/lora`, or nil when the file has none: its attributes (rank,
    /// alpha, dropout, targets, base_model) and every A and B of `/lora/adapters`.
    static func readAdapters(_ file: H5File, model: GPTConfig, path: String) throws -> LoRASnapshot? {
        guard try file.kind(of: "lora") == .group else { return nil }
        func invalid(_ problem: String) -> CheckpointError { .invalid(path: path, problem: problem) }
        let group = try file.group("lora")
        let rank: Int, alpha: Double, dropout: Double, targetText: String
        do {
            rank = try group.attribute("rank")
            alpha = try group.attribute("alpha")
            dropout = try group.attribute("dropout")
            targetText = try group.attribute("targets")
        } catch {
            throw invalid("/lora: \(error)")
        }
        let targets: [LoRATarget]
        switch LoRATarget.parse(targetText) {
        case .success(let t): targets = t
        case .failure(let error): throw invalid("/lora attribute \(error)")
        }
        let lora = LoRAConfig(rank: rank, alpha: alpha, dropout: dropout, targets: targets)
        do { try lora.validate() } catch { throw invalid("/lora attribute \(error)") }
        let base = (try? group.attribute("base_model", as: String.self)).flatMap { $0.isEmpty ? nil : $0 }
        let layout = LoRALayout(config: model, lora: lora)
        guard try group.kind(of: "adapters") == .group else { throw invalid("/lora has no group 'adapters'") }
        let adapters = try group.group("adapters")
        var names: [String: String] = [:]
        for t in layout.tensors { names[t.name] = t.name }
        let parameters = try readTensors(in: adapters, names: names, layout: layout, path: path, group: "/lora/adapters")
        let known = Set(names.keys)
        if let extra = try adapters.childNames().sorted().first(where: { !known.contains($0) }) {
            throw invalid("/lora/adapters/\(extra) is not an adapter of rank \(rank) on \(lora.targetList)")
        }
        return LoRASnapshot(config: lora, parameters: parameters, baseModel: base)
    }

    /// The model tensors of `/model`: state_dict key -> name in the file (torch.compile's
    /// `_orig_mod.` prefix taken off, attn.bias mask buffers left out).
    static func modelTensorNames(in group: H5Group) throws -> [String: String] {
        var names: [String: String] = [:]
        for stored in try group.childNames() {
            let key = stored.hasPrefix("_orig_mod.") ? String(stored.dropFirst("_orig_mod.".count)) : stored
            if key.hasSuffix(".attn.bias") && !key.hasSuffix("c_attn.bias") { continue }  // causal-mask buffer
            names[key] = stored
        }
        return names
    }

    /// Every tensor of `layout` from `group` (by `names`: state_dict key -> stored name), checked
    /// against PyTorch's shape, into one flat buffer.
    static func readTensors(in group: H5Group, names: [String: String], layout: any FlatLayout,
                            path: String, group groupPath: String) throws -> [Float] {
        var flat = [Float](repeating: 0, count: layout.count)
        let chunks = ChecksummedChunks()
        try flat.withUnsafeMutableBufferPointer { buffer in
            for tensor in layout.tensors {
                try readTensor(tensor, in: group, names: names, into: UnsafeMutableBufferPointer(rebasing: buffer[tensor.range]),
                               chunks: chunks, path: path, group: groupPath)
            }
        }
        return flat
    }

    /// One tensor of `group` (see `readTensors`) into `destination` (exactly its element count).
    static func readTensor(_ tensor: TensorView, in group: H5Group, names: [String: String],
                           into destination: UnsafeMutableBufferPointer<Float>, chunks: ChecksummedChunks,
                           path: String, group groupPath: String) throws {
        guard let stored = names[tensor.name], try group.kind(of: stored) == .dataset else {
            throw CheckpointError.invalid(path: path, problem: "\(groupPath) has no dataset '\(tensor.name)' (needed by its /config)")
        }
        let dataset = try group.dataset(stored)
        let shape = try dataset.shape
        guard shape == tensor.shape else {
            throw CheckpointError.invalid(path: path, problem: "\(groupPath)/\(stored) has shape \(shape), expected \(tensor.shape) from /config")
        }
        try chunks.read(dataset, into: destination, conversion: .numeric)
    }

    /// Reads the model tensors of a checkpoint one at a time (after `read(path:modelTensors: false)`).
    final class ModelTensorReader {
        private let file: H5File
        private let group: H5Group
        private let names: [String: String]
        private let path: String
        private let chunks = ChecksummedChunks()

        init(path: String) throws {
            self.path = path
            file = try H5File.open(at: path)
            group = try file.group("model")
            names = try Checkpoint.modelTensorNames(in: group)
        }

        deinit { file.close() }

        /// `tensor` into `destination` (exactly its element count).
        func read(_ tensor: TensorView, into destination: UnsafeMutableBufferPointer<Float>) throws {
            try Checkpoint.readTensor(tensor, in: group, names: names, into: destination, chunks: chunks, path: path, group: "/model")
        }
    }
}
