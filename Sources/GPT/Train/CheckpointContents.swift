/// What a checkpoint holds, in memory: the model's shape and parameters, and when the file has
/// them, the AdamW moments, the run's state, its settings and its tokenizer.
public struct CheckpointContents {
    /// The model's shape, from `/config`.
    public var modelConfig: GPTConfig
    /// Every attribute of `/config` (a third-party file may have only the model keys).
    public var settings: [String: ConfigValue]
    /// Every parameter in `ParameterLayout(config: modelConfig)` order (padding zero).
    public var parameters: [Float]
    /// AdamW's moments and step count, when the file has `/optimizer`: in the adapters' layout
    /// when the checkpoint has `lora` (the base was frozen and has none), else in the parameters'.
    public var optimizer: OptimizerSnapshot?
    /// The LoRA adapters, when the file has `/lora`.
    public var lora: LoRASnapshot?
    /// Iteration, best val loss and seed, when the file has `/state`.
    public var state: TrainingState?
    /// The tokenizer, when the file has `/tokenizer`.
    public var tokenizer: (any Tokenizer)?

    public init(modelConfig: GPTConfig, settings: [String: ConfigValue], parameters: [Float],
                optimizer: OptimizerSnapshot? = nil, state: TrainingState? = nil, tokenizer: (any Tokenizer)? = nil,
                lora: LoRASnapshot? = nil) {
        self.lora = lora
        self.modelConfig = modelConfig
        self.settings = settings
        self.parameters = parameters
        self.optimizer = optimizer
        self.state = state
        self.tokenizer = tokenizer
    }
}

/// AdamW's state in a checkpoint: both moments in the model's flat layout, and the step count.
public struct OptimizerSnapshot: Equatable {
    public var stepCount: Int
    public var m: [Float]
    public var v: [Float]

    public init(stepCount: Int, m: [Float], v: [Float]) {
        self.stepCount = stepCount
        self.m = m
        self.v = v
    }
}

/// LoRA adapters in a checkpoint: their settings, every A and B in `LoRALayout` order, and the
/// base model they were trained on when it is known (the run's `init_from` path).
public struct LoRASnapshot: Equatable {
    public var config: LoRAConfig
    public var parameters: [Float]
    public var baseModel: String?

    public init(config: LoRAConfig, parameters: [Float], baseModel: String? = nil) {
        self.config = config
        self.parameters = parameters
        self.baseModel = baseModel
    }
}

extension CheckpointContents {
    /// The parameters with the adapters folded into the weights they adapt (`W + scale·B·A`),
    /// or the parameters themselves when the checkpoint has no adapters.
    public var mergedParameters: [Float] {
        guard let lora else { return parameters }
        return LoRAMerge.merged(base: parameters, model: modelConfig, lora: lora.config, adapters: lora.parameters)
    }

    /// The contents as one plain model: adapters merged, no LoRA, and no optimizer state (its
    /// moments were the adapters').
    public var merged: CheckpointContents {
        guard lora != nil else { return self }
        var result = self
        result.parameters = mergedParameters
        result.lora = nil
        result.optimizer = nil
        return result
    }
}
