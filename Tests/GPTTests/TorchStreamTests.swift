import GPT
import XCTest

/// `TorchGenerator` and nanoGPT's initialisation against what PyTorch itself drew
/// (Fixtures/torch_stream.h5, written by Fixtures/make_torch_stream_fixture.py).
final class TorchStreamTests: XCTestCase {
    /// torch computes the Box–Muller blocks with AVX2 polynomials on this kind of CPU; the
    /// portable version agrees within a few units in the last place (under 2e-6 of the std).
    private func assertClose(_ actual: [Float], _ expected: [Float], scale: Float, _ what: String,
                             file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(actual.count, expected.count, what, file: file, line: line)
        var worst: Float = 0
        for (a, e) in zip(actual, expected) { worst = max(worst, abs(a - e)) }
        XCTAssertLessThanOrEqual(worst, 2e-6 * scale, "\(what): largest difference \(worst)", file: file, line: line)
    }

    func testDrawsMatchTorch() throws {
        let fixture = try PyTorchFixture(name: "torch_stream")
        var g = TorchGenerator(seed: 1337)
        // Uniforms and integers are exact: the same words, the same arithmetic.
        XCTAssertEqual((0..<40).map { _ in g.nextUniform() }, try fixture.floats("draws/uniform"))
        XCTAssertEqual(g.randint(1_003_790, count: 24).map(Int64.init), try fixture.int64s("draws/randint"))
        XCTAssertEqual(g.randint(3 << 32 + 5, count: 4).map(Int64.init), try fixture.int64s("draws/randint_wide"))
        var normal = [Float](repeating: 0, count: 37)
        normal.withUnsafeMutableBufferPointer { g.fillNormal($0, mean: 0, std: 0.02) }
        assertClose(normal, try fixture.floats("draws/normal37"), scale: 0.02, "normal_ of 37 (a redrawn tail)")
        // Under 16 elements: the scalar path, whose second value is cached across calls.
        var five = [Float](repeating: 0, count: 5), three = [Float](repeating: 0, count: 3)
        five.withUnsafeMutableBufferPointer { g.fillNormal($0, mean: 0, std: 1) }
        three.withUnsafeMutableBufferPointer { g.fillNormal($0, mean: 0, std: 1) }
        assertClose(five, try fixture.floats("draws/normal5"), scale: 1, "normal_ of 5")
        assertClose(three, try fixture.floats("draws/normal3"), scale: 1, "normal_ of 3 (starts from the cache)")
        // The stream is where torch's is after all of that.
        XCTAssertEqual((0..<3).map { _ in g.nextUniform() }, try fixture.floats("draws/uniform_after"))
    }

    func testStateRoundTripContinuesTheStream() throws {
        var g = TorchGenerator(seed: 99)
        var one = [Float](repeating: 0, count: 3)
        one.withUnsafeMutableBufferPointer { g.fillNormal($0, mean: 0, std: 1) }  // leaves a cached normal
        _ = g.randint(1000, count: 700)  // past one 624-word block
        var restored = try TorchGenerator(state: g.state)
        XCTAssertEqual(restored, g)
        XCTAssertEqual(restored.randint(1 << 20, count: 50), g.randint(1 << 20, count: 50))
        XCTAssertThrowsError(try TorchGenerator(state: [1, 2, 3]))
        XCTAssertThrowsError(try TorchGenerator(state: [UInt64](repeating: 0, count: 626)))
    }

    func testInitialisationIsNanoGPTs() throws {
        let fixture = try PyTorchFixture(name: "torch_stream")
        let shapes: [(String, GPTConfig, UInt64)] = [
            ("small_bias", GPTConfig(nLayer: 2, nHead: 2, nEmbd: 16, blockSize: 8, vocabSize: 13, bias: true, dropout: 0), 1337),
            ("small_nobias", GPTConfig(nLayer: 2, nHead: 2, nEmbd: 16, blockSize: 8, vocabSize: 13, bias: false, dropout: 0), 7),
            ("tiny_bias", GPTConfig(nLayer: 1, nHead: 1, nEmbd: 2, blockSize: 3, vocabSize: 5, bias: true, dropout: 0), 42),
        ]
        for (name, config, seed) in shapes {
            let model = try GPTModel(config: config, seed: 0, threads: 1)
            var g = TorchGenerator(seed: seed)
            model.initializeParameters(generator: &g)
            for key in model.layout.stateDictNames {
                let expected = try fixture.floats("models/\(name)/params/\(key)")
                let actual = Array(try XCTUnwrap(model.parameter(named: key), key))
                let isNormal = key.hasSuffix("weight") && !key.contains("ln_")
                if isNormal {
                    assertClose(actual, expected, scale: 0.02, "\(name) \(key)")
                } else {
                    XCTAssertEqual(actual, expected, "\(name) \(key)")
                }
            }
            // The generator stands where nanoGPT's first get_batch reads it.
            XCTAssertEqual(g.randint(1000, count: 16).map(Int64.init), try fixture.int64s("models/\(name)/after_init"), name)
        }
    }
}
