/// nanoGPT's batches: `get_batch` draws `torch.randint(len(data) - block_size, (batch_size,))`
/// from the generator that initialised the model, in the order train.py calls it. Seeded as
/// nanoGPT (`TorchGenerator(seed:)`, then the model's initialisation), a one-rank run with
/// gradient_accumulation_steps 1 reads exactly nanoGPT's training and evaluation batches.
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
    private(set) var generator: TorchGenerator
    /// The generator as the current iteration found it: what a checkpoint saves, so a resumed
    /// run redraws this iteration's batch and evaluation batches.
    private(set) var iterationStart: TorchGenerator
    let globalBatch: Int, batchSize: Int, evalIters: Int, blockSize: Int
    let trainStartCount: Int, valStartCount: Int
    /// The window starts of the current step's global batch.
    private(set) var trainStarts: [Int]
    /// Evaluation starts: eval_iters blocks of G (ranks × batch_size of each are read).
    private(set) var evaluationStarts: [Int]

    /// A stream positioned at `generator`; windows of `blockSize` + 1 in splits of the given sizes.
    init(generator: TorchGenerator, batchSize: Int, accumulationSteps: Int, evalIters: Int, blockSize: Int,
         trainTokens: Int, valTokens: Int) {
        self.generator = generator
        iterationStart = generator
        self.batchSize = batchSize
        globalBatch = batchSize * accumulationSteps
        self.evalIters = evalIters
        self.blockSize = blockSize
        trainStartCount = trainTokens - blockSize
        valStartCount = valTokens - blockSize
        trainStarts = [Int](repeating: 0, count: globalBatch)
        evaluationStarts = [Int](repeating: 0, count: evalIters * globalBatch)
    }

    /// Starts an iteration: remembers the generator (see `iterationStart`) and draws the step's
    /// global batch.
    mutating func beginIteration() {
        iterationStart = generator
        trainStarts.withUnsafeMutableBufferPointer { generator.randint(trainStartCount, into: $0) }
    }

    /// Draws an evaluation's blocks for `split` (train first, then val, as estimate_loss).
    mutating func drawEvaluation(_ split: DataSplit) {
        let range = split == .train ? trainStartCount : valStartCount
        evaluationStarts.withUnsafeMutableBufferPointer { generator.randint(range, into: $0) }
    }

    /// The starts of rank `rank`'s evaluation batch `k` of the last `drawEvaluation`.
    func evaluationBatch(_ k: Int, rank: Int) -> ArraySlice<Int> {
        let first = k * globalBatch + rank * batchSize
        return evaluationStarts[first..<(first + batchSize)]
    }

    /// The starts rank `rank` reads at micro-step `microStep` of the current step.
    func trainingBatch(layout: BatchLayout, rank: Int, microStep: Int) -> ArraySlice<Int> {
        trainStarts[layout.sequences(rank: rank, microStep: microStep)]
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
}
