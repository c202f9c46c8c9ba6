/// What a checkpoint holds, in memory: the model's shape and parameters, and when the file has
/// them, the AdamW moments, the run's state, its settings and its tokenizer.
public struct CheckpointContents {
    /// The model's shape, from `/config`.
    public var modelConfig: GPTConfig
    /// Every attribute of `/config` (a third-party file may have only the model keys).
    public var settings: [String: ConfigValue]
    /// Every parameter in `ParameterLayout(config: modelConfig)` order (padding zero).
    public var parameters: [Float]
    /// AdamW's moments and step count, when the file has `/optimizer`.
    public var optimizer: OptimizerSnapshot?
    /// Iteration, best val loss and seed, when the file has `/state`.
    public var state: TrainingState?
    /// The tokenizer, when the file has `/tokenizer`.
    public var tokenizer: (any Tokenizer)?

    public init(modelConfig: GPTConfig, settings: [String: ConfigValue], parameters: [Float],
                optimizer: OptimizerSnapshot? = nil, state: TrainingState? = nil, tokenizer: (any Tokenizer)? = nil) {
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
