/// nanoGPT's `get_batch`: window starts drawn as `torch.randint(len(data) - block_size,
/// (batch_size,))` from the generator that initialised the model, in the order train.py calls
/// it, and the windows at those starts. Seeded as nanoGPT (`TorchGenerator(seed:)`, then the
/// model's initialisation), a one-rank run with gradient_accumulation_steps 1 reads exactly
/// nanoGPT's training and evaluation batches.
///
/// It lives with the data, not the trainer: like get_batch it knows only a generator, the
/// dataset and the batch's shape (`BatchLayout`), nothing of models, optimizers or ranks'
/// messages. The trainer positions it (`beginIteration`, `drawEvaluation`, `endIteration`,
/// `restore`) and asks for batches; the batch path then reads in one direction: `BatchStream`
/// (which starts) → `BatchLayout` (which of them this rank reads) → `BatchSource` (memory or
/// shards) → `TokenLoader` → `SplitReader`.
///
/// The split lengths are checked once, here, against the block size (`init` throws
/// `DataError.invalidRequest`); every start is then drawn inside its split, so no window is
/// checked again on the way down.
///
/// The stream is laid out by the step's global batch G = batch_size × gradient_accumulation_steps
/// sequences, never by the rank count, so every rank draws the whole stream (a few words per
/// step) and reads its own part:
/// - iteration `it` first draws the G window starts of step `it` (nanoGPT draws the next batch
///   before the next iteration's evaluation); rank `r`'s micro-step `a` reads the sequences
///   `BatchLayout.sequences(rank: r, microStep: a)` of them;
/// - an evaluation then draws, for train and then val, eval_iters blocks of G starts; rank `r`'s
///   evaluation batch `k` is the `r`-th batch_size of block `k` (with one rank and
///   gradient_accumulation_steps 1, the whole block: nanoGPT's estimate_loss).
/// So training reads the same batches on any number of ranks, every rank evaluates eval_iters
/// batches of its batch_size as under nanoGPT's DDP, and one rank of batch_size 12 reads exactly
/// what 2 ranks of batch_size 6 with 2 micro-steps read, evaluation included.
struct BatchStream {
    /// Where the windows are read.
    let source: BatchSource
    /// The global batch and each rank's part of it.
    let layout: BatchLayout
    let evalIters: Int, blockSize: Int
    private(set) var generator: TorchGenerator
    /// The generator as the current iteration found it: what a checkpoint saves, so a resumed
    /// run redraws this iteration's batch and evaluation batches.
    private(set) var iterationStart: TorchGenerator
    /// The window starts of the current step's global batch.
    private(set) var trainStarts: [Int]
    /// Evaluation starts: eval_iters blocks of G (ranks × batch_size of each are read).
    private(set) var evaluationStarts: [Int]
    /// The split the evaluation starts were drawn in.
    private(set) var evaluationSplit = DataSplit.train

    /// A stream positioned at `generator`, reading windows of `blockSize` + 1 tokens from
    /// `source`. Throws when a split has too few tokens for one window or a count is negative.
    init(source: BatchSource, layout: BatchLayout, evalIters: Int, blockSize: Int, generator: TorchGenerator) throws {
        guard blockSize > 0, evalIters >= 0 else {
            throw DataError.invalidRequest("\(source.loader.directory): block size \(blockSize) and eval_iters \(evalIters) cannot make batches")
        }
        for split in [DataSplit.train, .val] where source.tokenCount(split) <= blockSize {
            throw DataError.invalidRequest(
                "\(source.loader.directory): the \(split.rawValue) split has \(source.tokenCount(split)) tokens, too few for block size \(blockSize) (needs at least \(blockSize + 1))")
        }
        self.source = source
        self.layout = layout
        self.evalIters = evalIters
        self.blockSize = blockSize
        self.generator = generator
        iterationStart = generator
        trainStarts = [Int](repeating: 0, count: layout.globalBatch)
        evaluationStarts = [Int](repeating: 0, count: evalIters * layout.globalBatch)
    }

    /// Starts an iteration: remembers the generator (see `iterationStart`) and draws the step's
    /// global batch.
    mutating func beginIteration() {
        iterationStart = generator
        let range = startCount(.train)
        trainStarts.withUnsafeMutableBufferPointer { generator.randint(range, into: $0) }
    }

    /// Draws an evaluation's blocks for `split` (train first, then val, as estimate_loss).
    mutating func drawEvaluation(_ split: DataSplit) {
        evaluationSplit = split
        let range = startCount(split)
        evaluationStarts.withUnsafeMutableBufferPointer { generator.randint(range, into: $0) }
    }

    /// Makes `inputs`/`targets` batch_size × block_size (row-major) and fills them with the
    /// windows rank `rank` reads at micro-step `microStep` of the current step.
    func trainingBatch(rank: Int, microStep: Int, inputs: inout [Int32], targets: inout [Int32]) throws {
        let rows = try layout.sequences(rank: rank, microStep: microStep)
        try source.read(.train, starts: trainStarts[rows], blockSize: blockSize, inputs: &inputs, targets: &targets)
    }

    /// Makes `inputs`/`targets` batch_size × block_size and fills them with rank `rank`'s
    /// evaluation batch `k` (of `0..<evalIters`) of the last `drawEvaluation`.
    func evaluationBatch(_ k: Int, rank: Int, inputs: inout [Int32], targets: inout [Int32]) throws {
        guard k >= 0, k < evalIters else {
            throw DataError.invalidRequest("evaluation batch \(k) is outside the \(evalIters) of an evaluation")
        }
        let part = try layout.evaluationSequences(rank: rank)
        let first = k * layout.globalBatch
        try source.read(evaluationSplit, starts: evaluationStarts[(first + part.lowerBound)..<(first + part.upperBound)],
                        blockSize: blockSize, inputs: &inputs, targets: &targets)
    }

    /// Ends an iteration after its step: the next one starts here (a checkpoint written now
    /// resumes at the next iteration).
    mutating func endIteration() {
        iterationStart = generator
    }

    /// Resumes at a saved `iterationStart`.
    mutating func restore(_ saved: TorchGenerator) {
        generator = saved
        iterationStart = saved
    }

    /// Number of valid window starts in `split`: `len(data) - block_size` (at least 1, see `init`).
    private func startCount(_ split: DataSplit) -> Int { source.tokenCount(split) - blockSize }
}
