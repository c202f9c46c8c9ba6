import XCTest
@testable import GPT

/// Batched decoding: each slot's logits are bit for bit those of the sequence decoded alone,
/// whatever shares its steps, as slots join, leave and crop.
final class ModelBatchDecoderTests: XCTestCase {
    /// The tiny test model, and one wide enough for OpenBLAS's blocked kernels (C = 64, 3C = 192).
    func models() throws -> [GPTModel] {
        let wide = try GPTModel(config: GPTConfig(nLayer: 2, nHead: 4, nEmbd: 64, blockSize: 12, vocabSize: 67, bias: true,
                                                  dropout: 0), seed: 3, threads: 2)
        var rng = RandomGenerator(seed: 33)
        rng.fillNormal(wide.parameters, mean: 0, std: 0.1)
        wide.isTraining = false
        let tiny = try makeTinyModel(blockSize: 6)
        tiny.isTraining = false
        // Context 36: long prompts and the crop's re-prefill reach BatchDecoder.blasRows (sgemm)
        // while decode steps and short prompts do not (rowProduct), side by side in one pass.
        let long = try GPTModel(config: GPTConfig(nLayer: 1, nHead: 2, nEmbd: 16, blockSize: 36, vocabSize: 13, bias: true,
                                                  dropout: 0), seed: 4, threads: 2)
        var longRNG = RandomGenerator(seed: 44)
        longRNG.fillNormal(long.parameters, mean: 0, std: 0.2)
        long.isTraining = false
        XCTAssertGreaterThanOrEqual(long.config.blockSize - 1, BatchDecoder.blasRows)
        return [tiny, wide, long]
    }

    /// Logits after each token of `tokens`, decoded alone: prefill of `prefill` tokens, then one
    /// token per step (the generator's path), with nanoGPT's crop past block_size.
    func alone(_ model: GPTModel, _ tokens: [Int32], prefill: Int) throws -> [[Float]] {
        let generator = Generator(model: model)
        var out = [try generator.append(Array(tokens[0..<prefill]))]
        for t in tokens[prefill...] { out.append(try generator.append([t])) }
        return out
    }

    func testEachSlotMatchesItsSequenceDecodedAloneBitForBit() throws {
        for model in try models() {
            let v = model.config.vocabSize, block = model.config.blockSize
            // Four sequences of different prompt lengths, long enough to crop (past block_size).
            let sequences = (0..<4).map { randomTokens(block + 4, vocab: v, seed: 40 + UInt64($0)) }
            let prefills = [1, 3, block - 1, 2]
            let expected = try zip(sequences, prefills).map { try alone(model, $0, prefill: $1) }

            let decoder = BatchDecoder(model: model, slots: 3)
            var got: [[[Float]]] = Array(repeating: [], count: 4)
            var position = [Int](repeating: 0, count: 4)   // tokens of each sequence consumed
            var slotOf: [Int: Int] = [:]                   // sequence → slot
            // Sequences 0, 1 and 2 start together; 3 waits for the first free slot (continuous batching).
            for s in 0..<3 {
                slotOf[s] = s
                got[s].append(try decoder.append(Array(sequences[s][0..<prefills[s]]), toSlot: s))
                position[s] = prefills[s]
            }
            var waiting = [3]
            while slotOf.count > 0 {
                let running = slotOf.keys.sorted()
                let logits = try decoder.step(slots: running.map { slotOf[$0]! }, tokens: running.map { sequences[$0][position[$0]] })
                for (row, s) in running.enumerated() {
                    got[s].append(Array(logits[(row * v)..<((row + 1) * v)]))
                    position[s] += 1
                    if position[s] == sequences[s].count {
                        let slot = slotOf.removeValue(forKey: s)!
                        decoder.reset(slot: slot)
                        if let next = waiting.popLast() {
                            slotOf[next] = slot
                            got[next].append(try decoder.append(Array(sequences[next][0..<prefills[next]]), toSlot: slot))
                            position[next] = prefills[next]
                        }
                    }
                }
            }
            for s in 0..<4 {
                XCTAssertEqual(got[s].count, expected[s].count, "model C=\(model.config.nEmbd) sequence \(s)")
                for (i, (a, b)) in zip(got[s], expected[s]).enumerated() {
                    XCTAssertEqual(a, b, "model C=\(model.config.nEmbd) sequence \(s) position \(i): batched logits differ from alone")
                }
            }
        }
    }

    func testPromptsPrefilledTogetherMatchEachPrefilledAlone() throws {
        for model in try models() {
            let v = model.config.vocabSize, block = model.config.blockSize
            // The middle prompt fills the context: the three cannot share one pass (block rows).
            let prompts = [randomTokens(1, vocab: v, seed: 60), randomTokens(block, vocab: v, seed: 61),
                           randomTokens(5, vocab: v, seed: 62)]
            let next = randomTokens(3, vocab: v, seed: 63)
            let decoder = BatchDecoder(model: model, slots: 3)
            let together = try decoder.prefill([(2, prompts[0]), (0, prompts[1]), (1, prompts[2])])
            let stepped = try decoder.step(slots: [2, 0, 1], tokens: next)
            for (row, prompt) in prompts.enumerated() {
                let generator = Generator(model: model)
                XCTAssertEqual(Array(together[(row * v)..<((row + 1) * v)]), try generator.append(prompt),
                               "model C=\(model.config.nEmbd) prompt \(row): prefilled together differs from alone")
                XCTAssertEqual(Array(stepped[(row * v)..<((row + 1) * v)]), try generator.append([next[row]]),
                               "model C=\(model.config.nEmbd) prompt \(row): the step after differs")
            }
            XCTAssertThrowsError(try decoder.prefill([(0, [1])])) { XCTAssertTrue("\($0)".contains("already holds"), "\($0)") }
        }
    }

    /// One pass whose rows take both kernels: a prompt long enough for sgemm (BatchDecoder.blasRows)
    /// beside short ones (rowProduct), each the same as prefilled alone.
    func testAPassMixingLongAndShortPromptsMatchesEachAlone() throws {
        let model = try models()[2]
        let v = model.config.vocabSize, long = BatchDecoder.blasRows + 1
        let prompts = [randomTokens(2, vocab: v, seed: 70), randomTokens(long, vocab: v, seed: 71), randomTokens(1, vocab: v, seed: 72)]
        XCTAssertLessThanOrEqual(prompts.map(\.count).reduce(0, +), model.config.blockSize, "one pass holds them all")
        let decoder = BatchDecoder(model: model, slots: 3)
        let together = try decoder.prefill([(0, prompts[0]), (1, prompts[1]), (2, prompts[2])])
        let next = randomTokens(3, vocab: v, seed: 73)
        let stepped = try decoder.step(slots: [0, 1, 2], tokens: next)
        for (row, prompt) in prompts.enumerated() {
            let generator = Generator(model: model)
            XCTAssertEqual(Array(together[(row * v)..<((row + 1) * v)]), try generator.append(prompt), "prompt \(row)")
            XCTAssertEqual(Array(stepped[(row * v)..<((row + 1) * v)]), try generator.append([next[row]]), "prompt \(row): the step after")
        }
    }

    func testBatchedStepEqualsTheFullForwardPass() throws {
        let model = try models()[1]
        let v = model.config.vocabSize
        let a = randomTokens(7, vocab: v, seed: 1), b = randomTokens(5, vocab: v, seed: 2)
        let decoder = BatchDecoder(model: model, slots: 2)
        _ = try decoder.append(Array(a.dropLast()), toSlot: 0)
        _ = try decoder.append(Array(b.dropLast()), toSlot: 1)
        let logits = try decoder.step(slots: [1, 0], tokens: [b.last!, a.last!])
        for (row, sequence) in [(0, b), (1, a)] {
            try model.forward(inputs: sequence, targets: nil, batchSize: 1, sequenceLength: sequence.count)
            assertClose(Array(logits[(row * v)..<((row + 1) * v)]), Array(model.logits.suffix(v)), relative: 1e-5,
                        "row \(row)")
        }
        XCTAssertEqual(decoder.context(ofSlot: 0), a)
        XCTAssertEqual(decoder.context(ofSlot: 1), b)
    }

    func testStepRefusesBadSlotsAndTokens() throws {
        let model = try makeTinyModel()
        model.isTraining = false
        let decoder = BatchDecoder(model: model, slots: 2)
        _ = try decoder.append([1, 2], toSlot: 0)
        XCTAssertThrowsError(try decoder.step(slots: [1], tokens: [3])) { XCTAssertTrue("\($0)".contains("slot 1 holds no sequence"), "\($0)") }
        XCTAssertThrowsError(try decoder.step(slots: [0, 0], tokens: [3, 3])) { XCTAssertTrue("\($0)".contains("distinct"), "\($0)") }
        XCTAssertThrowsError(try decoder.step(slots: [2], tokens: [3])) { XCTAssertTrue("\($0)".contains("outside 0..<2"), "\($0)") }
        XCTAssertThrowsError(try decoder.step(slots: [0], tokens: [11])) { XCTAssertTrue("\($0)".contains("vocabulary"), "\($0)") }
        XCTAssertEqual(decoder.context(ofSlot: 0), [1, 2], "a refused step changes nothing")
    }
}
