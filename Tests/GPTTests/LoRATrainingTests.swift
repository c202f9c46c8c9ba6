import Parallel
import XCTest
@testable import GPT

/// Training with LoRA through the trainer's step: the base never changes, only the adapters have
/// AdamW moments, and ranks (as threads) end with the adapters of one rank running the whole batch.
final class LoRATrainingTests: XCTestCase {
    let batch = 2, t = 6

    func tokens(_ microStep: Int, _ step: Int) -> (inputs: [Int32], targets: [Int32]) {
        (randomTokens(batch * t, vocab: 11, seed: UInt64(100 * step + microStep)),
         randomTokens(batch * t, vocab: 11, seed: UInt64(100 * step + microStep + 50)))
    }

    /// `steps` optimizer steps of `microSteps` micro-batches per rank; returns the base parameters,
    /// the adapters, the losses and the optimizer's moment count.
    func train(_ communicator: any Communicator, settings: GradientExchange.Settings = GradientExchange.Settings(),
               microSteps: Int, steps: Int = 4, threads: Int = 1)
        throws -> (base: [Float], adapters: [Float], losses: [Float], moments: Int) {
        // (Each step draws new random tokens: the losses show the steps ran, not learning; the
        // CLI tests see the loss fall.)
        let model = try makeTinyLoRAModel(rank: 2, alpha: 4, targets: [.attention, .feedForwardProjection],
                                          threads: threads, randomAdapters: false)
        let step = DataParallelStep(model: model, communicator: communicator, settings: settings, beta2: 0.99)
        var losses: [Float] = []
        for s in 0..<steps {
            var loss: Float = 0
            _ = try step.run(microSteps: microSteps, lossScale: 1 / Float(microSteps * communicator.size),
                             learningRate: 3e-2, maxGradNorm: 1, microStep: { a in
                                 let (x, y) = tokens(communicator.rank * microSteps + a, s)
                                 loss = try model.forward(inputs: x, targets: y, batchSize: batch, sequenceLength: t)
                             }, scalars: { [] })
            losses.append(loss)
        }
        try step.exchange.finishParameters()
        return (Array(model.parameters), Array(model.lora!.parameters), losses, step.optimizer.m.count)
    }

    func testBaseIsBitUnchangedAndOnlyAdaptersTrain() throws {
        let initial = try makeTinyLoRAModel(rank: 2, alpha: 4, targets: [.attention, .feedForwardProjection],
                                            threads: 1, randomAdapters: false)
        let result = try train(LocalCommunicator(), microSteps: 2, steps: 6)
        XCTAssertEqual(result.base.map(\.bitPattern), Array(initial.parameters).map(\.bitPattern), "the frozen base moved")
        XCTAssertNotEqual(result.adapters, Array(initial.lora!.parameters), "the adapters train")
        // Every B left zero: B's gradient is nonzero from the first step (A is not zero).
        let layout = initial.lora!.layout
        for tensor in layout.tensors where tensor.name.hasSuffix("lora_B.weight") {
            XCTAssertGreaterThan(result.adapters[tensor.range].map(abs).max()!, 1e-3, tensor.name)
        }
        // AdamW keeps moments of the adapters only.
        XCTAssertEqual(result.moments, layout.count)
        XCTAssertLessThan(layout.count, initial.layout.count / 4)
    }

    /// Ranks as threads: both ZeRO stages, tiny and single buckets, and a batch split across two
    /// threads per rank end with identical adapters on every rank, those of one rank running
    /// every micro-batch (float tolerance: sums in another order), and the base untouched.
    func testRanksTrainTheAdaptersOfOneRank() throws {
        let ranks = 2
        let one = try train(LocalCommunicator(), microSteps: ranks)
        for (settings, threads) in [(GradientExchange.Settings(bucketElements: 50, zeroStage: 1), 1),
                                    (GradientExchange.Settings(bucketElements: 0, zeroStage: 1), 1),
                                    (GradientExchange.Settings(bucketElements: 50, zeroStage: 0), 1),
                                    (GradientExchange.Settings(bucketElements: 50, zeroStage: 1), 2)] {
            let results = try ThreadRanks.run(size: ranks) { try self.train($0, settings: settings, microSteps: 1, threads: threads) }
                .map { try $0.get() }
            for r in 1..<ranks {
                XCTAssertEqual(results[r].adapters.map(\.bitPattern), results[0].adapters.map(\.bitPattern), "replica \(r), \(settings)")
            }
            XCTAssertEqual(results[0].base.map(\.bitPattern), one.base.map(\.bitPattern))
            let difference = zip(results[0].adapters, one.adapters).reduce(Float(0)) { max($0, abs($1.0 - $1.1)) }
            XCTAssertLessThan(difference, 5e-5, "\(settings), \(threads) threads")
            // Each rank keeps the moments of its shard only under stage 1.
            let total = one.moments
            if settings.zeroStage == 1 {
                XCTAssertEqual(results.map(\.moments).reduce(0, +), total)
                XCTAssertLessThan(results[0].moments, total)
            } else {
                XCTAssertEqual(results[0].moments, total)
            }
        }
    }
}
