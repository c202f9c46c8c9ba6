import Foundation

/// The floating point operations a forward + backward of a GPT costs, so that MFU = achieved
/// FLOP/s ÷ the machine's peak FLOP/s: nanoGPT's estimate_mfu (PaLM paper, appendix B), 6 per
/// parameter per token, with attention counted as the causal half of the T×T square that it is
/// computed over: 6·n_layer·C·T per token (estimate_mfu counts the whole square, 12·n_layer·C·T,
/// which is work a causal kernel never does). The one count behind training's and bench's MFU.
public struct FlopsEstimate: Equatable, Sendable {
    /// FLOPs of forward + backward per token of context.
    public let flopsPerToken: Double

    /// - Parameters:
    ///   - parameters: parameter count without the position embedding (nanoGPT's get_num_params()).
    public init(parameters: Int, layers: Int, heads: Int, embedding: Int, blockSize: Int) {
        let headSize = Double(embedding / heads)
        flopsPerToken = 6 * Double(parameters) + 6 * Double(layers) * Double(heads) * headSize * Double(blockSize)
    }

    /// Model FLOPs utilisation at `tokensPerSecond` against `peakFlops` FLOP/s (NaN when unknown).
    public func mfu(tokensPerSecond: Double, peakFlops: Double) -> Double {
        guard tokensPerSecond.isFinite, peakFlops > 0 else { return .nan }
        return flopsPerToken * tokensPerSecond / peakFlops
    }

    /// Model FLOPs utilisation of `tokens` processed in `seconds` against `peakFlops` FLOP/s.
    public func mfu(tokens: Int, seconds: Double, peakFlops: Double) -> Double {
        guard seconds > 0, peakFlops > 0 else { return .nan }
        return flopsPerToken * Double(tokens) / seconds / peakFlops
    }
}
