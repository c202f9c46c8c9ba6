import Foundation
import Parallel

/// `gpt-dist eval`: the mean loss over every non-overlapping block_size window of a split
/// (window i: inputs tokens [i·T, i·T+T), targets shifted by one), so the figure is exact and
/// deterministic, unlike nanoGPT's estimate from random batches. Windows are shared out over
/// ranks when run under mpirun.
public struct SplitEvaluation: Sendable, Equatable {
    public var split: String
    /// Mean cross-entropy per target token.
    public var loss: Double
    public var windows: Int
    public var tokens: Int
    public var blockSize: Int

    /// `exp(loss)`.
    public var perplexity: Double { exp(loss) }

    /// The result as one JSON object.
    public var json: String {
        "{\"split\":\"\(split)\",\"loss\":\(loss),\"perplexity\":\(perplexity),\"windows\":\(windows),\"tokens\":\(tokens),\"block_size\":\(blockSize)}"
    }

    /// Evaluates `model` on `split` of `loader`, `batchSize` windows per forward pass.
    public static func run(model: GPTModel, loader: TokenLoader, split: DataSplit, batchSize: Int,
                           communicator: (any Communicator)? = nil) throws -> SplitEvaluation {
        let t = model.config.blockSize
        let count = loader.evalWindowCount(split: split, blockSize: t)
        guard count > 0 else {
            throw DataError.invalidRequest("\(loader.directory): the \(split.rawValue) split has \(loader.tokenCount(split)) tokens, too few for one window of block_size \(t) (needs \(t + 1))")
        }
        let rank = communicator?.rank ?? 0, size = communicator?.size ?? 1
        let share = EvalWindows.share(of: count, rank: rank, worldSize: size)
        let rows = max(1, batchSize)
        model.isTraining = false
        model.gradientsEnabled = false
        defer { model.gradientsEnabled = true }
        model.reserve(batchSize: rows, sequenceLength: t)
        var inputs = [Int32](repeating: 0, count: rows * t), targets = inputs
        var totals = [0.0]  // sum of per-token losses
        var start = share.lowerBound
        while start < share.upperBound {
            let end = min(start + rows, share.upperBound)
            let n = end - start
            try loader.evalBatch(split: split, windows: start..<end, blockSize: t, inputs: &inputs, targets: &targets)
            let loss = try inputs.withUnsafeBufferPointer { i in
                try targets.withUnsafeBufferPointer { g in
                    try model.forward(inputs: UnsafeBufferPointer(rebasing: i[0..<(n * t)]),
                                      targets: UnsafeBufferPointer(rebasing: g[0..<(n * t)]),
                                      batchSize: n, sequenceLength: t)
                }
            }
            totals[0] += Double(loss) * Double(n * t)
            start = end
        }
        if let communicator, size > 1 { try communicator.allreduce(&totals, op: .sum) }
        return SplitEvaluation(split: split.rawValue, loss: totals[0] / Double(count * t), windows: count,
                               tokens: count * t, blockSize: t)
    }
}
