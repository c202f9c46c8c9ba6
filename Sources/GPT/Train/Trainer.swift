import Foundation
import Parallel

/// How a run ended.
public struct TrainOutcome: Sendable {
    /// The next optimizer step (max_iters when the run finished).
    public var iteration: Int
    public var bestValLoss: Double
    /// Losses of the last evaluation, if any.
    public var lastTrainLoss: Double?
    public var lastValLoss: Double?
    /// Mean loss over the global batch of every step taken, in order.
    public var stepLosses: [Double]
    /// True when a stop signal ended the run early (after saving a checkpoint).
    public var interrupted: Bool
    /// Updates `StepGuard` skipped.
    public var skippedSteps = 0
}

/// nanoGPT's train.py as a data-parallel loop: every rank holds a full replica that starts from
/// rank 0's parameters; each optimizer step runs `gradient_accumulation_steps / worldSize`
/// micro-batches per rank, sums the gradients over ranks (each scaled by 1 /
/// gradient_accumulation_steps, so the result is nanoGPT's accumulated gradient), clips, and
/// takes an AdamW step at the schedule's learning rate (`DataParallelStep`: the gradients move in
/// buckets while backward runs, and under ZeRO stage 1 each rank updates and keeps the moments
/// of its own shard, whose new values travel back while the next forward runs). Evaluations,
/// checkpoints and output follow nanoGPT (eval at every eval_interval, save when val improves or
/// always_save_checkpoint); only rank 0 prints and writes.
public final class Trainer {
    /// The run's settings, the model keys as the model really has them (vocab_size resolved;
    /// from the checkpoint on resume or fine-tuning).
    public let config: TrainConfig
    public let modelConfig: GPTConfig
    let sources: ConfigSources
    let communicator: any Communicator
    let reporter: TrainReporter?
    let loader: TokenLoader
    public let model: GPTModel
    /// The optimizer step: exchange, clipping and AdamW on this rank's part.
    let dataParallel: DataParallelStep
    /// AdamW over this rank's part of the parameters (its shard under ZeRO stage 1).
    public var optimizer: AdamW { dataParallel.optimizer }
    var exchange: GradientExchange { dataParallel.exchange }
    public internal(set) var state: TrainingState
    let schedule: LRSchedule
    /// nanoGPT's batches, drawn from the generator that initialised the model (read from memory
    /// when the dataset is small).
    var stream: BatchStream
    /// Threads of this rank's kernels.
    public let threads: Int
    var inputs: [Int32]
    var targets: [Int32]
    let flops: FlopsEstimate
    /// FLOP/s of every rank's sgemm peak together (the MFU denominator).
    var peakFlops: Double = .nan
    /// Time per part of the loop (GPT_DIST_PROFILE).
    var profile = TrainProfile()
    /// Aborts the job when this rank stops making progress (collective_timeout_s), during `run`.
    var watchdog: Watchdog?
    /// What begins a line a rank prints for itself, outside `reporter` (the watchdog's): the
    /// command's error prefix (`gpt-dist train: error: ` from the command line).
    public var errorPrefix = "error: "
    /// What begins a line a rank prints about the job, not as an error (the watchdog's line
    /// about ranks that stopped answering), e.g. `gpt-dist train: rank 1 on node2`; nil: `rank N`.
    public var speaker: String?
    /// The base model the adapters train on, written into checkpoints (rank 0, LoRA).
    var loraBase: String?
    /// The iteration of the last checkpoint this run saved (every rank; -1: none).
    var lastSavedIteration = -1
    /// Decides before each AdamW step whether to take it (skip_loss_zscore, skip_grad_zscore).
    var stepGuard: StepGuard
    /// Iterations the test hook `GPT_DIST_TEST_POISON_STEP` (`N` or `N-M`) makes bad: the last
    /// rank's loss and gradients become NaN, as from a corrupt batch.
    let poisonedSteps: ClosedRange<Int>?
    /// Seconds the test hook `GPT_DIST_TEST_PAUSE_IN_SAVE` makes rank 0 wait in the middle of
    /// every checkpoint write (the model in `ckpt.h5.tmp`, the moments not yet), so a test can
    /// kill a rank or send a signal mid-save.
    let savePause = ProcessInfo.processInfo.environment["GPT_DIST_TEST_PAUSE_IN_SAVE"].flatMap { Double($0) }

    var rank: Int { communicator.rank }
    var worldSize: Int { communicator.size }
    var microStepsPerRank: Int { stream.layout.microStepsPerRank }
    /// `out_dir/ckpt.h5`.
    public var checkpointPath: String { (config.out_dir as NSString).appendingPathComponent("ckpt.h5") }

    /// Checks the settings against the data and the ranks, builds the replica (from scratch, a
    /// checkpoint to resume, or one to fine-tune) and makes every rank's parameters rank 0's.
    /// Every rank calls it; `reporter` is rank 0's output (nil elsewhere).
    public init(config requested: TrainConfig, sources: ConfigSources, communicator: any Communicator,
                reporter: TrainReporter?) throws {
        self.sources = sources
        self.communicator = communicator
        self.reporter = reporter
        let size = communicator.size
        try requested.validate(worldSize: size, sources: sources)
        try requested.validateDataDirectory(sources: sources)
        loader = try TokenLoader(directory: requested.data_dir)

        // The starting point: rank 0 reads a checkpoint, every rank learns its shape.
        var start = try StartingPoint.agree(config: requested, sources: sources, tokenizer: loader.tokenizer,
                                            communicator: communicator)
        var config = requested
        let modelConfig: GPTConfig
        if let shape = start.modelConfig {
            modelConfig = try StartingPoint.adapt(shape, to: requested, resuming: start.isResume, path: start.path,
                                                  sources: sources)
        } else {
            modelConfig = GPTConfig(nLayer: requested.n_layer, nHead: requested.n_head, nEmbd: requested.n_embd,
                                    blockSize: requested.block_size,
                                    vocabSize: requested.vocab_size ?? loader.vocabularySize,
                                    bias: requested.bias, dropout: requested.dropout)
        }
        start.relayout(to: modelConfig)
        let overridden = Self.overriddenSettings(requested, by: modelConfig, sources: sources, checkpoint: start.path)
        config.n_layer = modelConfig.nLayer
        config.n_head = modelConfig.nHead
        config.n_embd = modelConfig.nEmbd
        config.block_size = modelConfig.blockSize
        config.bias = modelConfig.bias
        config.vocab_size = modelConfig.vocabSize
        self.config = config
        self.modelConfig = modelConfig

        try config.validate(splitTokens: loader.tokenCount(.val), split: "val", sources: sources)
        try config.validate(splitTokens: loader.tokenCount(.train), split: "train", sources: sources)
        if modelConfig.vocabSize < loader.vocabularySize {
            if let path = start.path {
                throw TrainError.incompatibleCheckpoint(
                    path: path, problem: "its vocabulary of \(modelConfig.vocabSize) is smaller than the \(loader.vocabularySize) tokens of \(config.data_dir)")
            }
            try config.validate(datasetVocabularySize: loader.vocabularySize, sources: sources)
        }

        threads = config.threads > 0 ? config.threads : threadsPerRank(localSize: communicator.localSize)
        // torch.manual_seed(seed), the model's init, then get_batch: nanoGPT's one stream. (From a
        // checkpoint too, as nanoGPT builds its model before loading one; on resume the stream
        // continues from the checkpoint's.)
        var generator = TorchGenerator(seed: UInt64(config.seed))
        model = try GPTModel(config: modelConfig, initializingFrom: &generator, dropoutSeed: UInt64(config.seed),
                             threads: threads, lora: config.loraConfig)
        loraBase = start.loraBase
        dataParallel = DataParallelStep(model: model, communicator: communicator, settings: config.exchangeSettings,
                                        beta1: Float(config.beta1), beta2: Float(config.beta2), eps: 1e-8,
                                        weightDecay: Float(config.weight_decay))
        schedule = LRSchedule(config)
        stream = try BatchStream(source: BatchSource(loader: loader),
                                 layout: BatchLayout(worldSize: size, microStepsPerRank: config.gradient_accumulation_steps / size,
                                                     batchSize: config.batch_size),
                                 evalIters: config.eval_iters, blockSize: config.block_size, generator: generator)
        inputs = [Int32](repeating: 0, count: config.batch_size * config.block_size)
        targets = inputs
        flops = FlopsEstimate(parameters: modelConfig.parameterCount(), layers: modelConfig.nLayer,
                              heads: modelConfig.nHead, embedding: modelConfig.nEmbd, blockSize: modelConfig.blockSize)
        state = TrainingState(seed: config.seed, worldSize: size)
        stepGuard = StepGuard(lossZScore: config.skip_loss_zscore, gradZScore: config.skip_grad_zscore)
        poisonedSteps = Self.poisonedSteps(ProcessInfo.processInfo.environment["GPT_DIST_TEST_POISON_STEP"])

        // Rank 0's parameters (and moments and state on resume) everywhere.
        if let contents = start.contents {
            contents.parameters.withUnsafeBufferPointer { source in
                _ = model.parameters.update(fromContentsOf: source)
            }
        }
        try communicator.broadcast(model.parameters, root: 0)
        if let adapters = model.lora {
            // Resumed adapters from rank 0's checkpoint; fresh ones are drawn alike everywhere.
            if let saved = start.contents?.lora {
                saved.parameters.withUnsafeBufferPointer { _ = adapters.parameters.update(fromContentsOf: $0) }
            }
            try communicator.broadcast(adapters.parameters, root: 0)
        }
        if start.isResume {
            // Each rank's part of the moments from rank 0's checkpoint.
            try MomentShards(exchange: dataParallel.exchange, communicator: communicator)
                .distribute(start.contents?.optimizer, into: optimizer)
            start.contents = nil
            optimizer.stepCount = start.optimizerSteps
            state.iteration = start.iteration
            state.bestValLoss = start.bestValLoss
            if let saved = start.dataStream { stream.restore(saved) }
        }
        model.activationCheckpointing = config.activation_checkpointing
        model.reserve(batchSize: config.batch_size, sequenceLength: config.block_size)
        peakFlops = try measurePeak()
        reportSetup(start: start, overridden: overridden)
    }

    /// The model settings the run asked for (in its file or a `--set`) that a checkpoint's shape
    /// replaces, each as `key: asked → used (where it was asked)`.
    static func overriddenSettings(_ requested: TrainConfig, by shape: GPTConfig, sources: ConfigSources,
                                   checkpoint: String?) -> [String] {
        guard checkpoint != nil else { return [] }
        let pairs: [(String, String, String)] = [
            ("n_layer", "\(requested.n_layer)", "\(shape.nLayer)"), ("n_head", "\(requested.n_head)", "\(shape.nHead)"),
            ("n_embd", "\(requested.n_embd)", "\(shape.nEmbd)"), ("block_size", "\(requested.block_size)", "\(shape.blockSize)"),
            ("bias", "\(requested.bias)", "\(shape.bias)"),
            ("vocab_size", requested.vocab_size.map { "\($0)" } ?? "", "\(shape.vocabSize)"),
        ]
        return pairs.compactMap { key, asked, used in
            sources.isSet(key) && asked != used ? "\(key) \(asked) -> \(used) (\(sources.source(of: key)))" : nil
        }
    }

    /// Every rank measures its sgemm peak at the same time; the sum is the job's peak.
    /// `GPT_DIST_PEAK_FLOPS` (FLOP/s of the whole job) skips the measurement.
    private func measurePeak() throws -> Double {
        if let text = ProcessInfo.processInfo.environment["GPT_DIST_PEAK_FLOPS"], let value = Double(text), value > 0 {
            return value
        }
        try communicator.barrier()
        var peak = PeakFlops.measure(threads: threads, seconds: 0.1)
        if worldSize > 1 { peak = try communicator.allreduce(peak, op: .sum) }
        return peak
    }

    /// `N` or `N-M` (inclusive) as a range of iterations; nil when unset or not that form.
    static func poisonedSteps(_ text: String?) -> ClosedRange<Int>? {
        guard let fields = text?.split(separator: "-", omittingEmptySubsequences: false), (1...2).contains(fields.count),
              let first = Int(fields[0]), let last = Int(fields[fields.count - 1]), first <= last else { return nil }
        return first...last
    }

    private func reportSetup(start: StartingPoint, overridden: [String]) {
        guard let reporter else { return }
        if !overridden.isEmpty, let path = start.path {
            reporter.message("the model's shape comes from \(path), not the settings: " + overridden.joined(separator: ", "))
        }
        for problem in start.rejected {
            reporter.message("passing over a checkpoint that does not verify or resume: \(problem)")
        }
        if !start.rejected.isEmpty, let path = start.path {
            reporter.message("falling back to \(path), the newest checkpoint that verifies")
        }
        let params = Double(modelConfig.parameterCount()) / 1e6
        let from: String
        switch config.initialization {
        case .scratch: from = "from scratch"
        case .resume: from = "resuming \(start.path ?? checkpointPath) at iteration \(start.iteration)"
        case .checkpoint(let path): from = "fine-tuning \(path)"
        }
        reporter.message(String(format: "model: %.2fM parameters (%d layers, %d heads, %d embd, block %d, vocab %d, bias %@, dropout %g), %@",
                                params, modelConfig.nLayer, modelConfig.nHead, modelConfig.nEmbd, modelConfig.blockSize,
                                modelConfig.vocabSize, modelConfig.bias ? "true" : "false", config.dropout, from))
        if let lora = model.lora {
            let trainable = lora.layout.tensors.reduce(0) { $0 + $1.count }
            reporter.message(String(format: "lora: rank %d, alpha %g (scale %g), dropout %g, on %@ of every block: %d trainable parameters (%.2f%% of the model's), the base frozen",
                                    lora.config.rank, lora.config.alpha, Double(lora.config.scale), lora.config.dropout,
                                    lora.config.targetList, trainable,
                                    100 * Double(trainable) / Double(modelConfig.parameterCount(nonEmbedding: false))))
        }
        reporter.message("data: \(config.data_dir) (\(loader.tokenCount(.train)) train, \(loader.tokenCount(.val)) val tokens); out_dir: \(config.out_dir)")
        reporter.message("ranks: \(worldSize) x \(threads) thread\(threads == 1 ? "" : "s"); \(config.tokensPerIteration) tokens per iteration (batch \(config.batch_size) x \(microStepsPerRank) micro-step\(microStepsPerRank == 1 ? "" : "s") per rank); sgemm peak \(String(format: "%.1f", peakFlops / 1e9)) GFLOP/s")
    }
}
