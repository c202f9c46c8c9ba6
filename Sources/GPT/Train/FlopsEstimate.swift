import Foundation

/// nanoGPT's estimate_mfu: the floating point operations a forward + backward of a GPT costs
/// (PaLM paper, appendix B), so that MFU = achieved FLOP/s ÷ the machine's peak FLOP/s.
public struct FlopsEstimate: Equatable, Sendable {
    /// FLOPs of forward + backward per token of context.
    public let flopsPerToken: Double

    /// - Parameters:
    ///   - parameters: parameter count without the position embedding (nanoGPT's get_num_params()).
    public init(parameters: Int, layers: Int, heads: Int, embedding: Int, blockSize: Int) {
        let headSize = Double(embedding / heads)
        flopsPerToken = 6 * Double(parameters) + 12 * Double(layers) * Double(heads) * headSize * Double(blockSize)
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
