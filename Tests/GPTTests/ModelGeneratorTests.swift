import XCTest
@testable import GPT

/// KV-cache inference against the full forward pass, context cropping, and sampling.
final class ModelGeneratorTests: XCTestCase {
    func testCachedLogitsEqualFullForwardAtEveryPosition() throws {
        for bias in [true, false] {
            let model = try makeTinyModel(bias: bias)
            model.isTraining = false
            let tokens = randomTokens(6, vocab: 11, seed: 20)
            try model.forward(inputs: tokens, targets: nil, batchSize: 1, sequenceLength: 6)
            let full = Array(model.logits)

            // One token at a time: every step reads the cache of all earlier positions.
            let generator = Generator(model: model)
            for position in 0..<6 {
                let logits = try generator.append([tokens[position]])
                assertClose(logits, Array(full[(position * 11)..<((position + 1) * 11)]), relative: 1e-5,
                            "bias \(bias): cached logits at position \(position)")
            }
            // A prefill of three, then single tokens, asking for every position's logits.
            generator.reset()
            var cached = try generator.append(Array(tokens[0..<3]), allPositions: true)
            cached += try generator.append(Array(tokens[3..<6]), allPositions: true)
            assertClose(cached, full, relative: 1e-5, "bias \(bias): prefill then extend")
            XCTAssertEqual(generator.context, tokens)
        }
    }

    func testContextIsCroppedToBlockSizeAsNanoGPTDoes() throws {
        let model = try makeTinyModel()
        model.isTraining = false
        let tokens = randomTokens(9, vocab: 11, seed: 21)
        let generator = Generator(model: model)
        _ = try generator.append(Array(tokens[0..<6]))
        for end in 7...9 {
            let logits = try generator.append([tokens[end - 1]])
            // nanoGPT: the model sees the last block_size tokens at positions 0..<block_size.
            let window = Array(tokens[(end - 6)..<end])
            try model.forward(inputs: window, targets: nil, batchSize: 1, sequenceLength: 6)
            assertClose(logits, Array(model.logits.suffix(11)), relative: 1e-5, "cropped window ending at \(end)")
            XCTAssertEqual(generator.context, window)
        }
    }

    func testGreedyGenerationPicksTheArgmaxEachStep() throws {
        let model = try makeTinyModel()
        model.isTraining = false
        let generator = Generator(model: model)
        var rng = RandomGenerator(seed: 1)
        var streamed: [Int32] = []
        let produced = try generator.generate(prompt: [1, 2], maxNewTokens: 8, options: SamplingOptions(temperature: 0),
                                              rng: &rng) { token in streamed.append(token); return true }
        XCTAssertEqual(produced.count, 8)
        XCTAssertEqual(streamed, produced)
        // Replay without the cache: argmax of the full forward over the (cropped) sequence.
        var sequence: [Int32] = [1, 2]
        for token in produced {
            let window = Array(sequence.suffix(6))
            try model.forward(inputs: window, targets: nil, batchSize: 1, sequenceLength: window.count)
            let last = Array(model.logits.suffix(11))
            XCTAssertEqual(Int(token), last.indices.max { last[$0] < last[$1] }!)
            sequence.append(token)
        }
        // top_k 1 and a tiny top_p are greedy too, whatever the temperature.
        for options in [SamplingOptions(temperature: 1.5, topK: 1), SamplingOptions(temperature: 1.5, topP: 1e-6)] {
            let again = try generator.generate(prompt: [1, 2], maxNewTokens: 8, options: options, rng: &rng)
            XCTAssertEqual(again, produced, "\(options)")
        }
    }

    func testSamplingIsSeededAndRespectsTopK() throws {
        let model = try makeTinyModel()
        model.isTraining = false
        let generator = Generator(model: model)
        func sample(_ seed: UInt64, _ options: SamplingOptions) throws -> [Int32] {
            var rng = RandomGenerator(seed: seed)
            return try generator.generate(prompt: [3], maxNewTokens: 12, options: options, rng: &rng)
        }
        let options = SamplingOptions(temperature: 1)
        XCTAssertEqual(try sample(5, options), try sample(5, options))
        XCTAssertNotEqual(try sample(5, options), try sample(6, options))

        // Early stop from the streaming callback.
        var rng = RandomGenerator(seed: 5)
        var seen = 0
        let stopped = try generator.generate(prompt: [3], maxNewTokens: 12, options: options, rng: &rng) { _ in
            seen += 1
            return seen < 3
        }
        XCTAssertEqual(stopped.count, 3)

        // Top-k: every sampled token is among the k largest logits of its step.
        var sampler = TokenSampler()
        var draws = RandomGenerator(seed: 9)
        let logits: [Float] = [0.1, 2, -1, 1.9, 0.5, 1.95, -3]
        var counts = [Int](repeating: 0, count: logits.count)
        for _ in 0..<3000 {
            let t = logits.withUnsafeBufferPointer { sampler.sample($0, options: SamplingOptions(topK: 3), rng: &draws) }
            counts[Int(t)] += 1
        }
        XCTAssertEqual(counts.enumerated().filter { $0.element > 0 }.map(\.offset), [1, 3, 5])
        // Top-p 0.5 over probabilities [0.5+, ...] keeps only the most likely token.
        let peaked: [Float] = [0, 3, 0, 1]
        for _ in 0..<200 {
            let t = peaked.withUnsafeBufferPointer { sampler.sample($0, options: SamplingOptions(topP: 0.5), rng: &draws) }
            XCTAssertEqual(t, 1)
        }
        XCTAssertThrowsError(try SamplingOptions(topP: 0).validate())
        XCTAssertThrowsError(try SamplingOptions(temperature: -1).validate())
    }

    /// top_k's threshold is the k-th largest value counting repeats, and the survivors are every
    /// token at or above it in index order: the draws equal those of the plain candidate filter
    /// (sort the values, keep those >= the k-th) on logits full of ties.
    func testTopKDrawsEqualThePlainFilter() {
        func reference(_ logits: [Float], _ options: SamplingOptions, _ rng: inout RandomGenerator) -> Int32 {
            var candidates = logits.enumerated().map { (Int32($0.offset), $0.element * (1 / options.temperature)) }
            if let k = options.topK, k < candidates.count {
                let threshold = candidates.map(\.1).sorted(by: >)[k - 1]
                candidates.removeAll { $0.1 < threshold }
            }
            let top = candidates.reduce(-Float.infinity) { max($0, $1.1) }
            var total = 0.0
            for i in candidates.indices { let p = Foundation.exp(Double(candidates[i].1 - top)); candidates[i].1 = Float(p); total += p }
            let target = rng.nextUniformDouble() * total
            var running = 0.0
            for c in candidates { running += Double(c.1); if target < running { return c.0 } }
            return candidates.last!.0
        }
        var values = RandomGenerator(seed: 12)
        for (vocab, k) in [(7, 1), (7, 3), (50, 49), (1000, 200), (2000, 17)] {
            // Quantized: many logits tie, at the threshold too.
            let logits = (0..<vocab).map { _ in (values.nextUniform() * 20).rounded() / 4 }
            let options = SamplingOptions(temperature: 0.8, topK: k)
            var sampler = TokenSampler()
            var a = RandomGenerator(seed: UInt64(vocab + k)), b = a
            for draw in 0..<60 {
                let got = logits.withUnsafeBufferPointer { sampler.sample($0, options: options, rng: &a) }
                XCTAssertEqual(got, reference(logits, options, &b), "vocab \(vocab) top_k \(k) draw \(draw)")
            }
        }
    }
}
