import Foundation

extension Checkpoint {
    /// The model stored in the checkpoint at `path`, ready for inference (evaluation mode),
    /// with the checkpoint's other contents. `threads` 0 means every core. LoRA adapters, when
    /// the checkpoint has them, are merged into the weights (`W + scale·B·A`).
    public static func loadModel(path: String, threads: Int = 0) throws -> (GPTModel, CheckpointContents) {
        let contents = try read(path: path)
        var config = contents.modelConfig
        config.dropout = 0
        var unused = TorchGenerator(seed: 0)   // every parameter is overwritten below: no random init
        let model = try GPTModel(config: config, initializingFrom: &unused, dropoutSeed: 0,
                                 threads: threads > 0 ? threads : ProcessInfo.processInfo.activeProcessorCount,
                                 initialize: false)
        contents.mergedParameters.withUnsafeBufferPointer { _ = model.parameters.update(fromContentsOf: $0) }
        model.isTraining = false
        return (model, contents)
    }

    /// The tokenizer to read and write text for this checkpoint: its own, or else the dataset's.
    /// Throws when there is none, or when both exist and disagree.
    public static func tokenizer(of contents: CheckpointContents, path: String, dataset: (any Tokenizer)?,
                                 datasetPath: String?) throws -> any Tokenizer {
        switch (contents.tokenizer, dataset) {
        case (nil, nil):
            throw CheckpointError.invalid(path: path, problem: "has no /tokenizer: pass --data DIR to use a dataset's tokenizer")
        case (let own?, nil):
            return own
        case (nil, let data?):
            return data
        case (let own?, let data?):
            if !sameTokenizer(own, data) {
                throw CheckpointError.invalid(
                    path: path, problem: "its tokenizer (\(own.kind.rawValue), \(own.vocabularySize) tokens) differs from the one of \(datasetPath ?? "the dataset") (\(data.kind.rawValue), \(data.vocabularySize) tokens)")
            }
            return own
        }
    }

    static func sameTokenizer(_ a: any Tokenizer, _ b: any Tokenizer) -> Bool {
        if let x = a as? CharTokenizer, let y = b as? CharTokenizer { return x == y }
        return a.kind == b.kind && a.vocabularySize == b.vocabularySize
    }
}
