import Foundation
import XCTest
@testable import GPT

/// Parameter names, shapes and offsets, config validation and the seeded generator.
final class ModelLayoutTests: XCTestCase {
    func testLayoutHasNanoGPTNamesShapesAndTying() throws {
        let config = GPTConfig(nLayer: 2, nHead: 2, nEmbd: 8, blockSize: 4, vocabSize: 10, bias: true)
        let layout = ParameterLayout(config: config)
        XCTAssertEqual(layout.tensors.count, 2 + 2 * 12 + 2)
        XCTAssertEqual(layout.tensors.first?.name, "transformer.wte.weight")
        XCTAssertEqual(layout.tensor(named: "transformer.wpe.weight")?.shape, [4, 8])
        XCTAssertEqual(layout.tensor(named: "transformer.h.1.attn.c_attn.weight")?.shape, [24, 8])
        XCTAssertEqual(layout.tensor(named: "transformer.h.1.attn.c_attn.bias")?.shape, [24])
        XCTAssertEqual(layout.tensor(named: "transformer.h.0.mlp.c_fc.weight")?.shape, [32, 8])
        XCTAssertEqual(layout.tensor(named: "transformer.h.0.mlp.c_proj.weight")?.shape, [8, 32])
        XCTAssertEqual(layout.tensor(named: "transformer.ln_f.bias")?.shape, [8])
        XCTAssertEqual(layout.tensor(named: "lm_head.weight"), layout.tensor(named: "transformer.wte.weight"))
        XCTAssertTrue(layout.stateDictNames.contains("lm_head.weight"))
        // Views never overlap, are 64-byte aligned and fit the buffer.
        var end = 0
        for t in layout.tensors {
            XCTAssertGreaterThanOrEqual(t.offset, end)
            XCTAssertEqual(t.offset % 16, 0)
            XCTAssertEqual(t.count, t.shape.reduce(1, *))
            end = t.offset + t.count
        }
        XCTAssertLessThanOrEqual(end, layout.count)
        XCTAssertEqual(layout.tensors.filter(\.decays).count, 2 + 2 * 4)
        XCTAssertEqual(layout.tensors.reduce(0) { $0 + $1.count }, config.parameterCount(nonEmbedding: false))

        let noBias = ParameterLayout(config: GPTConfig(nLayer: 2, nHead: 2, nEmbd: 8, blockSize: 4, vocabSize: 10, bias: false))
        XCTAssertFalse(noBias.tensors.contains { $0.name.hasSuffix(".bias") })
        XCTAssertEqual(noBias.tensors.count, 2 + 2 * 6 + 1)
    }

    func testInitialisationFollowsNanoGPT() throws {
        let config = GPTConfig(nLayer: 4, nHead: 4, nEmbd: 64, blockSize: 32, vocabSize: 300, bias: true)
        let model = try GPTModel(config: config, seed: 3, threads: 1)
        func std(_ name: String) -> Double {
            let v = model.parameter(named: name)!.map(Double.init)
            let mean = v.reduce(0, +) / Double(v.count)
            return (v.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(v.count)).squareRoot()
        }
        XCTAssertEqual(std("transformer.wte.weight"), 0.02, accuracy: 0.001)
        XCTAssertEqual(std("transformer.h.0.mlp.c_fc.weight"), 0.02, accuracy: 0.001)
        XCTAssertEqual(std("transformer.h.3.attn.c_proj.weight"), 0.02 / (8.0).squareRoot(), accuracy: 0.0005)
        XCTAssertEqual(Set(model.parameter(named: "transformer.h.2.ln_1.weight")!), [1])
        XCTAssertEqual(Set(model.parameter(named: "transformer.h.2.mlp.c_fc.bias")!), [0])
        let again = try GPTModel(config: config, seed: 3, threads: 1)
        XCTAssertEqual(Array(again.parameters), Array(model.parameters))
    }

    func testConfigUsesSnakeCaseKeysAndNamesTheBadKey() throws {
        let json = #"{"n_layer":4,"n_head":4,"n_embd":128,"block_size":64,"vocab_size":65,"bias":false,"dropout":0.2}"#
        let config = try JSONDecoder().decode(GPTConfig.self, from: Data(json.utf8))
        XCTAssertEqual(config, GPTConfig(nLayer: 4, nHead: 4, nEmbd: 128, blockSize: 64, vocabSize: 65, bias: false, dropout: 0.2))
        let encoded = String(decoding: try JSONEncoder().encode(config), as: UTF8.self)
        XCTAssertTrue(encoded.contains("\"n_embd\":128"), encoded)

        XCTAssertThrowsError(try GPTConfig(nLayer: 2, nHead: 3, nEmbd: 8, blockSize: 4, vocabSize: 10).validate()) {
            XCTAssertEqual(($0 as? GPTConfigError)?.key, "n_embd")
        }
        XCTAssertThrowsError(try GPTConfig(nLayer: 0).validate()) {
            XCTAssertEqual(($0 as? GPTConfigError)?.key, "n_layer")
        }
        XCTAssertThrowsError(try GPTConfig(dropout: 1).validate()) {
            XCTAssertEqual("\($0)", "model config: dropout must be in [0, 1), got 1.0")
        }
        XCTAssertThrowsError(try GPTModel(config: GPTConfig(vocabSize: -1)))
    }

    func testRandomGeneratorStateRoundTrips() throws {
        var a = RandomGenerator(seed: 11)
        _ = (0..<5).map { _ in a.next() }
        var b = try RandomGenerator(state: a.state)
        XCTAssertEqual((0..<10).map { _ in a.next() }, (0..<10).map { _ in b.next() })
        let data = try JSONEncoder().encode(a)
        var c = try JSONDecoder().decode(RandomGenerator.self, from: data)
        XCTAssertEqual(a.next(), c.next())
        XCTAssertThrowsError(try RandomGenerator(state: [0, 0, 0, 0]))
        XCTAssertThrowsError(try RandomGenerator(state: [1, 2]))
        // Uniforms cover [0, 1) evenly enough.
        var r = RandomGenerator(seed: 1)
        let u = (0..<10_000).map { _ in r.nextUniform() }
        XCTAssertEqual(Double(u.reduce(0, +)) / 10_000, 0.5, accuracy: 0.02)
        XCTAssertTrue(u.allSatisfy { $0 >= 0 && $0 < 1 })
    }
}
