import Foundation
import Parallel

/// Where a run starts (init_from), agreed by every rank: rank 0 reads the checkpoint, if any, and
/// broadcasts its shape and counters; the parameters follow later as one broadcast.
struct StartingPoint {
    var isResume = false
    /// The checkpoint read, if any.
    var path: String?
    /// The checkpoint's model shape (every rank), nil from scratch.
    var modelConfig: GPTConfig?
    /// The checkpoint itself, on rank 0 only (relaid out to the run's model shape).
    var contents: CheckpointContents?
    var iteration = 0
    var optimizerSteps = 0
    var bestValLoss = 1e9
    /// On resume, the batch generator where the checkpoint's iteration starts (every rank).
    var dataStream: TorchGenerator?
    /// On resume (rank 0): why newer checkpoints were passed over (each one line naming its file).
    var rejected: [String] = []
    /// The base model the run's adapters train on (rank 0, LoRA): the path fine-tuned from, or
    /// on resume the one the checkpoint names.
    var loraBase: String?

    /// Reads the checkpoint `config.init_from` names (on rank 0) and shares what the ranks need:
    /// it must hold the tokenizer of the dataset (`tokenizer`), when it holds one; a run from
    /// scratch must not replace a checkpoint in out_dir unless overwrite_checkpoint says so.
    static func agree(config: TrainConfig, sources: ConfigSources, tokenizer: (any Tokenizer)?,
                      communicator: any Communicator) throws -> StartingPoint {
        var start = StartingPoint()
        switch config.initialization {
        case .scratch:
            try refuseOverwrite(config: config, sources: sources, communicator: communicator)
            return start
        case .resume:
            start.isResume = true
            start.path = (config.out_dir as NSString).appendingPathComponent("ckpt.h5")
        case .checkpoint(let path):
            start.path = path
        }
        // [status, n_layer, n_head, n_embd, block_size, vocab_size, bias, iteration, optimizer steps, best val bits]
        var header = [Int64](repeating: 0, count: 10)
        var failure: Error?
        if communicator.rank == 0 {
            do {
                var contents: CheckpointContents
                if start.isResume {
                    (start.path, contents, start.rejected) = try newestResumable(
                        CheckpointRetention(outDirectory: config.out_dir, keepLast: config.keep_last).resumeCandidates)
                    let state = contents.state!
                    start.dataStream = state.dataStream
                    start.iteration = state.iteration
                    start.bestValLoss = state.bestValLoss
                    start.optimizerSteps = contents.optimizer!.stepCount
                } else {
                    let path = start.path!
                    guard FileManager.default.fileExists(atPath: path) else {
                        throw TrainError.incompatibleCheckpoint(path: path, problem: "no such checkpoint (init_from)")
                    }
                    // A Hugging Face GPT-2 directory is imported on the fly (init_from: HF_DIR).
                    contents = HuggingFaceImport.isModelDirectory(path)
                        ? try HuggingFaceImport.read(directory: path, dropout: config.dropout).contents
                        : try Checkpoint.read(path: path)
                }
                if let tokenizer, contents.tokenizer != nil {
                    _ = try Checkpoint.tokenizer(of: contents, path: start.path!, dataset: tokenizer, datasetPath: config.data_dir)
                }
                if start.isResume {
                    try checkAdapters(of: contents, path: start.path!, config: config, sources: sources)
                    start.loraBase = contents.lora?.baseModel
                } else {
                    // Fine-tuning from a checkpoint with adapters starts from the merged weights.
                    contents = contents.merged
                    start.loraBase = start.path
                }
                let m = contents.modelConfig
                header = [1, Int64(m.nLayer), Int64(m.nHead), Int64(m.nEmbd), Int64(m.blockSize), Int64(m.vocabSize),
                          m.bias ? 1 : 0, Int64(start.iteration), Int64(start.optimizerSteps),
                          Int64(bitPattern: start.bestValLoss.bitPattern)]
                start.contents = contents
            } catch {
                failure = error
                header[0] = -1
            }
        }
        if communicator.size > 1 {
            try header.withUnsafeMutableBufferPointer { try communicator.broadcast($0, root: 0) }
        }
        if header[0] < 0 {
            throw failure.map(CollectiveFailure.init) ?? TrainError.peerFailed(rank: 0, during: "reading \(start.path!)")
        }
        start.modelConfig = GPTConfig(nLayer: Int(header[1]), nHead: Int(header[2]), nEmbd: Int(header[3]),
                                      blockSize: Int(header[4]), vocabSize: Int(header[5]), bias: header[6] != 0,
                                      dropout: config.dropout)
        start.iteration = Int(header[7])
        start.optimizerSteps = Int(header[8])
        start.bestValLoss = Double(bitPattern: UInt64(bitPattern: header[9]))
        if start.isResume && communicator.size > 1 {
            var words = (start.dataStream?.state ?? []).map { Int64(bitPattern: $0) }
            words += [Int64](repeating: 0, count: TorchGenerator.stateCount - words.count)
            try words.withUnsafeMutableBufferPointer { try communicator.broadcast($0, root: 0) }
            start.dataStream = try TorchGenerator(state: words.map { UInt64(bitPattern: $0) })
        }
        return start
    }

    /// A resumed run trains what the checkpoint trained: the same adapters (lora_rank, lora_alpha,
    /// lora_targets; lora_dropout may change) or, without `/lora`, every weight.
    static func checkAdapters(of contents: CheckpointContents, path: String, config: TrainConfig,
                              sources: ConfigSources) throws {
        switch (contents.lora?.config, config.loraConfig) {
        case (nil, nil):
            return
        case (nil, let asked?):
            throw TrainConfigError.invalidValue(
                source: sources.source(of: "lora_rank"), key: "lora_rank",
                problem: "\(asked.rank), but \(path) trained every weight (it has no /lora adapters): resume with lora_rank 0, or fine-tune from it with adapters (init_from: \(path))")
        case (let saved?, nil):
            throw TrainConfigError.invalidValue(
                source: sources.source(of: "lora_rank"), key: "lora_rank",
                problem: "0, but \(path) trains LoRA adapters (lora_rank \(saved.rank), lora_alpha \(saved.alpha), lora_targets \(saved.targetList)): resume with those, or fine-tune every weight of the merged model (init_from: \(path))")
        case (let saved?, let asked?):
            let pairs: [(String, String, String)] = [
                ("lora_rank", "\(asked.rank)", "\(saved.rank)"), ("lora_alpha", "\(asked.alpha)", "\(saved.alpha)"),
                ("lora_targets", asked.targetList, saved.targetList),
            ]
            if let mismatch = pairs.first(where: { $0.1 != $0.2 }) {
                throw TrainConfigError.invalidValue(
                    source: sources.source(of: mismatch.0), key: mismatch.0,
                    problem: "\(mismatch.1) differs from the \(mismatch.2) of the adapters in \(path), which this run resumes")
            }
        }
    }

    /// Rank 0 looks for out_dir/ckpt.h5 before a run from scratch would replace it; every rank
    /// learns the answer.
    static func refuseOverwrite(config: TrainConfig, sources: ConfigSources, communicator: any Communicator) throws {
        guard !config.overwrite_checkpoint else { return }
        let path = CheckpointRetention(outDirectory: config.out_dir, keepLast: 0).newestPath
        var found: [Int32] = [communicator.rank == 0 && FileManager.default.fileExists(atPath: path) ? 1 : 0]
        if communicator.size > 1 { try communicator.broadcast(&found, root: 0) }
        guard found[0] == 0 else {
            throw TrainConfigError.invalidValue(
                source: sources.source(of: "out_dir"), key: "out_dir",
                problem: "\(config.out_dir) already holds a checkpoint (\(path)) that this run from scratch would replace: resume it (--set init_from=resume), choose another out_dir, or set overwrite_checkpoint: true")
        }
    }

    /// The first of `candidates` (ckpt.h5, then the retained ones, newest first) that exists, reads
    /// and verifies (every dataset's checksum) and can be resumed exactly, with why each one
    /// before it was passed over. None: the first candidate's problem.
    static func newestResumable(_ candidates: [String]) throws -> (String, CheckpointContents, [String]) {
        var rejected: [String] = [], firstFailure: Error?
        for path in candidates {
            do {
                guard FileManager.default.fileExists(atPath: path) else {
                    throw TrainError.incompatibleCheckpoint(
                        path: path, problem: "no checkpoint to resume (init_from: resume reads out_dir/ckpt.h5)")
                }
                let contents = try Checkpoint.read(path: path)
                guard contents.optimizer != nil, let state = contents.state, state.dataStream != nil else {
                    throw TrainError.incompatibleCheckpoint(
                        path: path, problem: "has no /optimizer, /state or /state/data_stream, so it cannot be resumed exactly; fine-tune from it instead (init_from: \(path))")
                }
                return (path, contents, rejected)
            } catch {
                firstFailure = firstFailure ?? error
                rejected.append("\(error)")
            }
        }
        throw firstFailure!
    }

    /// The model shape of the run: the checkpoint's, with the run's dropout; fine-tuning may crop
    /// the context to a smaller block_size (nanoGPT's crop_block_size).
    static func adapt(_ shape: GPTConfig, to config: TrainConfig, resuming: Bool, path: String?,
                      sources: ConfigSources) throws -> GPTConfig {
        var result = shape
        result.dropout = config.dropout
        if !resuming && sources.isSet("block_size") {
            if config.block_size > shape.blockSize {
                throw TrainConfigError.invalidValue(
                    source: sources.source(of: "block_size"), key: "block_size",
                    problem: "\(config.block_size) is longer than the \(shape.blockSize) positions of the checkpoint \(path ?? "")")
            }
            result.blockSize = config.block_size
        }
        return result
    }

    /// Rank 0's checkpoint parameters in the layout of `target` (equal but for a cropped context).
    mutating func relayout(to target: GPTConfig) {
        guard var contents, contents.modelConfig.blockSize != target.blockSize else { return }
        contents.parameters = Checkpoint.relayout(contents.parameters, from: contents.modelConfig, to: target)
        contents.modelConfig.blockSize = target.blockSize
        contents.optimizer = nil
        self.contents = contents
    }
}
