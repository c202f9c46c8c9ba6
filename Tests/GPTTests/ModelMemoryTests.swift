import XCTest
@testable import GPT

/// The memory-saving paths against the plain ones: a classifier over chunks of positions equals
/// one over the whole batch, and recomputing the blocks in backward (activation checkpointing)
/// gives the stored path's gradients bit for bit.
final class ModelMemoryTests: XCTestCase {
    /// A model with more positions than one classifier chunk holds (chunks are at least 64 rows).
    private func model(checkpointing: Bool = false, chunkFloats: Int, dropout: Double = 0, threads: Int = 2,
                       splits: Bool = true) throws -> GPTModel {
        let m = try makeTinyModel(dropout: dropout, threads: threads, blockSize: 40)
        m.activationCheckpointing = checkpointing
        m.classifierChunkFloats = chunkFloats
        m.splitsBatchAcrossThreads = splits
        return m
    }

    /// Loss and gradients of one step, and the model's memory after it.
    private func step(_ m: GPTModel, batch: Int = 5, seq: Int = 37, lossScale: Float = 1) throws
        -> (loss: Float, gradients: [Float]) {
        let inputs = randomTokens(batch * seq, vocab: 11, seed: 40)
        var targets = randomTokens(batch * seq, vocab: 11, seed: 41)
        targets[5] = -1
        targets[100] = -1
        m.dropoutGenerator = RandomGenerator(seed: 9)
        m.zeroGradients()
        m.lossScale = lossScale
        let loss = try m.forward(inputs: inputs, targets: targets, batchSize: batch, sequenceLength: seq)
        m.backward()
        return (loss, Array(m.gradients))
    }

    func testChunkedClassifierEqualsTheWholeBatchClassifier() throws {
        for splits in [true, false] {
            // 64-row chunks over 3 × 37 positions per slice (or 185 unsplit): several chunks, the
            // last one partial; 1 << 20 floats hold every slice's positions in one chunk.
            let chunked = try model(chunkFloats: 64 * 11, splits: splits)
            let whole = try model(chunkFloats: 1 << 20, splits: splits)
            let a = try step(chunked, lossScale: 0.5), b = try step(whole, lossScale: 0.5)
            XCTAssertEqual(chunked.slices[0].activations.chunkRows, 64)
            XCTAssertGreaterThan(whole.slices[0].activations.chunkRows, 100)
            XCTAssertEqual(a.loss, b.loss, accuracy: 1e-6 * abs(b.loss), "split \(splits)")
            assertClose(a.gradients, b.gradients, relative: 1e-6, "split \(splits): gradients")
            XCTAssertGreaterThan(a.gradients.map(abs).max()!, 1e-3)
        }
    }

    func testChunksBoundTheClassifierMemory() throws {
        let config = GPTConfig(nLayer: 1, nHead: 2, nEmbd: 16, blockSize: 512, vocabSize: 1000, bias: true, dropout: 0)
        let m = try GPTModel(config: config, seed: 1, threads: 1)
        m.classifierChunkFloats = 128 * 1000
        m.reserve(batchSize: 4, sequenceLength: 512)
        let a = m.slices[0].activations
        XCTAssertEqual(a.chunkRows, 128)
        // Workspace without the chunk is a few [bt, C] buffers and attention's scratch; the chunk
        // is 128 rows of logits, not 2048.
        let withoutChunk = a.workspaceFloats - 128 * 1000
        XCTAssertLessThan(a.workspaceFloats, 2048 * 1000 / 4 + withoutChunk)
        XCTAssertEqual(m.memory.workspace, a.workspaceFloats * 4, "no logits buffer until a pass without targets")
        try m.forward(inputs: randomTokens(2048, vocab: 1000, seed: 2), targets: nil, batchSize: 4, sequenceLength: 512)
        XCTAssertEqual(m.logits.count, 2048 * 1000)
        XCTAssertGreaterThanOrEqual(m.memory.workspace, (a.workspaceFloats + 2048 * 1000) * 4)
    }

    func testRecomputedBlocksGiveTheStoredGradientsBitForBit() throws {
        for dropout in [0.0, 0.25] {
            for splits in [true, false] {
                let stored = try model(chunkFloats: 64 * 11, dropout: dropout, splits: splits)
                let recomputed = try model(checkpointing: true, chunkFloats: 64 * 11, dropout: dropout, splits: splits)
                let a = try step(stored), b = try step(recomputed)
                XCTAssertEqual(a.loss, b.loss, "dropout \(dropout), split \(splits)")
                XCTAssertEqual(a.gradients, b.gradients, "dropout \(dropout), split \(splits): gradients")
                XCTAssertTrue(recomputed.slices[0].activations.recomputesBlocks)
                XCTAssertLessThan(recomputed.memory.activations, stored.memory.activations)
            }
        }
    }

    func testRecomputedBlocksStoreOneBlockOfActivations() throws {
        let config = GPTConfig(nLayer: 6, nHead: 2, nEmbd: 16, blockSize: 32, vocabSize: 50, bias: true, dropout: 0)
        let stored = try GPTModel(config: config, seed: 1, threads: 1)
        let recomputed = try GPTModel(config: config, seed: 1, threads: 1)
        recomputed.activationCheckpointing = true
        for m in [stored, recomputed] { m.reserve(batchSize: 2, sequenceLength: 32) }
        let bt = 64, c = 16
        let block = Activations.Block.floats(positions: bt, channels: c, heads: 2)
        let saved = stored.slices[0].activations.storedFloats - recomputed.slices[0].activations.storedFloats
        // Five blocks' buffers fewer (each of their 11 pieces rounded up to 16 floats), and the
        // GELU output the small stored model keeps for each of its six blocks.
        XCTAssertTrue(stored.slices[0].activations.keepsGELUOutput)
        XCTAssertFalse(recomputed.slices[0].activations.keepsGELUOutput)
        XCTAssertGreaterThanOrEqual(saved, 5 * block + 6 * bt * 4 * c)
        XCTAssertLessThanOrEqual(saved, 5 * (block + 11 * 16) + 6 * bt * 4 * c)
    }

    /// Backward reads the GELU output and derivative that forward kept, or computes both again
    /// from the pre-activation (above `keptGELUOutputMaximumBytes`): the same loss and gradients
    /// bit for bit, with dropout and over several steps; keeping costs 4C floats per position
    /// per block.
    func testKeptGELUOutputGivesTheRecomputedGradients() throws {
        let config = GPTConfig(nLayer: 3, nHead: 2, nEmbd: 32, blockSize: 16, vocabSize: 40, bias: true, dropout: 0.1)
        let kept = try GPTModel(config: config, seed: 5, threads: 1)
        let recomputed = try GPTModel(config: config, seed: 5, threads: 1)
        recomputed.keptGELUOutputMaximumBytes = 0
        let tokens = randomTokens(2 * 3 * 16, vocab: 40, seed: 9)
        var losses: [[Float]] = [[], []]
        for step in 0..<2 {
            for (i, m) in [kept, recomputed].enumerated() {
                m.zeroGradients()
                let window = Array(tokens[(step * 16)...])
                losses[i].append(try m.forward(inputs: Array(window[..<48]), targets: Array(window[1...48]),
                                               batchSize: 3, sequenceLength: 16))
                m.backward()
            }
            XCTAssertEqual(Array(kept.gradients), Array(recomputed.gradients), "step \(step)")
        }
        XCTAssertEqual(losses[0], losses[1])
        XCTAssertGreaterThan(kept.gradients.map(abs).max()!, 0)
        let (a, b) = (kept.slices[0].activations, recomputed.slices[0].activations)
        XCTAssertTrue(a.keepsGELUOutput)
        XCTAssertFalse(b.keepsGELUOutput)
        XCTAssertGreaterThanOrEqual(a.storedFloats - b.storedFloats, 3 * 48 * 4 * 32)
        XCTAssertLessThanOrEqual(a.storedFloats - b.storedFloats, 3 * (48 * 4 * 32 + 16))
    }

    /// Nothing grows with T²: doubling the context at most doubles every buffer.
    func testActivationsGrowLinearlyInContext() throws {
        let config = GPTConfig(nLayer: 2, nHead: 2, nEmbd: 16, blockSize: 2048, vocabSize: 50, bias: true, dropout: 0)
        func floats(_ t: Int) -> (stored: Int, total: Int) {
            let a = Activations(config: config, batch: 1, seq: t, threads: 2, recomputesBlocks: false, chunkRows: 64)
            return (a.storedFloats, a.storage.count)
        }
        let (short, long) = (floats(1024), floats(2048))
        XCTAssertLessThanOrEqual(long.stored, 2 * short.stored)
        XCTAssertLessThanOrEqual(long.total, 2 * short.total)
        // One T×T matrix alone would be 4 Mi floats.
        XCTAssertLessThan(long.total, 2048 * 2048)
    }

    func testRecomputedGradientsMatchFiniteDifferences() throws {
        let m = try makeTinyModel()
        m.activationCheckpointing = true
        let b = 2, t = 5
        let inputs = randomTokens(b * t, vocab: 11, seed: 1)
        let targets = randomTokens(b * t, vocab: 11, seed: 2)
        m.zeroGradients()
        try m.forward(inputs: inputs, targets: targets, batchSize: b, sequenceLength: t)
        m.backward()
        let analytic = Array(m.gradients)
        XCTAssertTrue(m.slices[0].activations.recomputesBlocks)
        var rng = RandomGenerator(seed: 3)
        let eps: Float = 1e-2
        for tensor in m.layout.tensors {
            for _ in 0..<3 {
                let i = tensor.offset + Int(rng.next() % UInt64(tensor.count))
                let saved = m.parameters[i]
                m.parameters[i] = saved + eps
                let plus = try m.forward(inputs: inputs, targets: targets, batchSize: b, sequenceLength: t)
                m.parameters[i] = saved - eps
                let minus = try m.forward(inputs: inputs, targets: targets, batchSize: b, sequenceLength: t)
                m.parameters[i] = saved
                let numeric = (plus - minus) / (2 * eps)
                XCTAssertEqual(analytic[i], numeric, accuracy: 2e-3 + 2e-2 * abs(numeric),
                               "d loss / d \(tensor.name)[\(i - tensor.offset)]")
            }
        }
    }

    /// A batch split across threads sums each slice's gradients range by range and hands the
    /// summed pages back (ranges here are several pages long; the size from which that happens
    /// lowered to any): a step after another gives the same gradients bit for bit as the same
    /// step on a fresh model, the slice buffers read zero afterwards, and the memory report counts
    /// wte's and two blocks' gradients per extra slice.
    func testSplitBackwardGivesSummedSliceGradientsBack() throws {
        let config = GPTConfig(nLayer: 4, nHead: 2, nEmbd: 64, blockSize: 16, vocabSize: 300, bias: true, dropout: 0)
        func make() throws -> GPTModel {
            let m = try GPTModel(config: config, seed: 3, threads: 2)
            m.slicePageReleaseMinimumBytes = 0
            return m
        }
        let (used, fresh) = (try make(), try make())
        let first = randomTokens(4 * 16 * 2, vocab: 300, seed: 50), second = randomTokens(4 * 16 * 2, vocab: 300, seed: 51)
        func step(_ m: GPTModel, _ tokens: [Int32]) throws {
            m.zeroGradients()
            try m.forward(inputs: Array(tokens[..<64]), targets: Array(tokens[64...]), batchSize: 4, sequenceLength: 16)
            m.backward()
        }
        try step(used, first)
        try step(used, second)
        try step(fresh, second)
        XCTAssertEqual(used.slices.count, 2)
        XCTAssertEqual(Array(used.gradients), Array(fresh.gradients), "a split step after another equals it on a fresh model")
        XCTAssertGreaterThan(used.gradients.map(abs).max()!, 0)
        let extra = used.sliceGradients!.start(slice: 0)
        XCTAssertTrue((0..<used.layout.count).allSatisfy { extra[$0] == 0 }, "summed slice gradients are cleared")
        let ranges = used.layout.backwardRanges
        XCTAssertEqual(used.memory.sliceGradients,
                       (ranges.first!.count + ranges.last!.count + 2 * ranges[1].count) * MemoryLayout<Float>.size)
        XCTAssertLessThan(used.memory.sliceGradients, used.memory.gradients)
        XCTAssertTrue(used.sliceGradients!.releasesPages)

        // Below the size that hands pages back (this model at the default): the same sums, the
        // buffers zeroed in place, and the whole layout resident per extra slice.
        let kept = try GPTModel(config: config, seed: 3, threads: 2)
        try step(kept, first)
        try step(kept, second)
        XCTAssertFalse(kept.sliceGradients!.releasesPages)
        XCTAssertEqual(Array(kept.gradients), Array(fresh.gradients), "zeroing in place sums the same")
        let keptExtra = kept.sliceGradients!.start(slice: 0)
        XCTAssertTrue((0..<kept.layout.count).allSatisfy { keptExtra[$0] == 0 }, "summed slice gradients are zeroed")
        XCTAssertEqual(kept.memory.sliceGradients, kept.layout.count * MemoryLayout<Float>.size)
    }
}
