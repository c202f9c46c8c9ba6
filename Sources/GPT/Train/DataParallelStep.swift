import Foundation
import Parallel

/// One optimizer step for any number of ranks and either ZeRO stage: the micro-batches' forward
/// and backward (the last backward overlapped with the gradients' reduction), the wait for the
/// sums and their global norm, AdamW on this rank's part with the clipping coefficient applied
/// as it reads the gradients, and the new parameters' allgather started for the next forward.
/// One rank runs the same code with nothing to exchange. What trains is the model's trained
/// buffer: every parameter, or with LoRA the adapters alone (the frozen base never moves).
public final class DataParallelStep {
    public let model: GPTModel
    public let optimizer: AdamW
    public let exchange: GradientExchange

    /// What a step returns: the norm before clipping, the caller's scalars summed over ranks,
    /// and whether the update was taken.
    public struct Result {
        public var gradientNorm: Float
        public var scalars: [Double]
        public var updated: Bool
    }

    public init(model: GPTModel, communicator: any Communicator, settings: GradientExchange.Settings,
                beta1: Float = 0.9, beta2: Float = 0.95, eps: Float = 1e-8, weightDecay: Float = 0.1) {
        self.model = model
        exchange = GradientExchange(model: model, communicator: communicator, settings: settings)
        optimizer = AdamW(model: model, ranges: exchange.owned, beta1: beta1, beta2: beta2, eps: eps,
                          weightDecay: weightDecay)
    }

    /// Zeroes the gradients, runs `microStep(a)` (a forward pass with targets) then backward, at
    /// `lossScale` (the model's), for each of `microSteps` micro-batches, reduces, clips to `maxGradNorm` (0 =
    /// off) and updates at `learningRate`. `scalars()` is read after the last micro-step and
    /// summed over ranks with the norm. `shouldUpdate(norm, summed scalars)` (the same values on
    /// every rank, so every rank decides alike) can skip the update: the parameters and the
    /// moments then stay as they were.
    public func run(microSteps: Int, lossScale: Float, learningRate: Float, maxGradNorm: Float,
                    microStep: (Int) throws -> Void, scalars: () -> [Double],
                    shouldUpdate: (Float, [Double]) -> Bool = { _, _ in true }) throws -> Result {
        model.zeroGradients()
        model.lossScale = lossScale
        for a in 0..<microSteps {
            try microStep(a)
            if a == microSteps - 1 {
                try exchange.reduceWhile(model: model) { model.backward() }
            } else {
                model.backward()
            }
        }
        var summed = scalars()
        let norm = try exchange.finishGradients(of: model, scalars: &summed)
        // This step's forward waited for every parameter, so nothing is in flight when skipping.
        guard shouldUpdate(norm, summed) else { return Result(gradientNorm: norm, scalars: summed, updated: false) }
        optimizer.step(parameters: model.trainedParameters, gradients: UnsafeBufferPointer(model.trainedGradients),
                       learningRate: learningRate,
                       gradientScale: GradientClipping.coefficient(norm: norm, maxNorm: maxGradNorm))
        try exchange.gatherParameters(of: model)
        return Result(gradientNorm: norm, scalars: summed, updated: true)
    }
}
