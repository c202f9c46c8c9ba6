import XCTest
@testable import GPT

/// The attention kernel (causal row blocks of sgemm calls) against a plain-loop reference of
/// nanoGPT's attention, forward and backward, with and without dropout on the weights.
final class ModelAttentionTests: XCTestCase {
    let batch = 2, seq = 70, heads = 3, headSize = 5

    func testCausalBlocksMatchThePlainLoopReference() {
        XCTAssertEqual(Attention.defaultBlocks(seq: 64), 2)
        XCTAssertEqual(Attention.defaultBlocks(seq: 16), 1)
        XCTAssertEqual(Attention.defaultBlocks(seq: 1024), 8)
        let c = heads * headSize, t = seq
        let qkv = randomFloats(batch * t * 3 * c, seed: 1), dout = randomFloats(batch * t * c, seed: 2)
        for dropout in [nil, DropoutMask(stepKey: 99, site: 1, probability: 0.3)] {
            let reference = referenceAttention(qkv: qkv, dout: dout, dropout: dropout)
            for blocks in [1, 2, 3, 8] {
                let attention = Attention(batch: batch, seq: t, heads: heads, headSize: headSize, blocks: blocks)
                var out = [Float](repeating: .nan, count: batch * t * c)
                var probs = [Float](repeating: .nan, count: batch * heads * t * t)
                var dqkv = [Float](repeating: .nan, count: batch * t * 3 * c)
                var scratch = [Float](repeating: .nan, count: 2 * 2 * t * t)
                qkv.withUnsafeBufferPointer { q in
                    attention.forward(out: &out, probs: &probs, qkv: q.baseAddress!, dropout: dropout, batchOffset: 0,
                                      scratch: &scratch, threads: 2)
                    attention.backward(dqkv: &dqkv, dout: dout, probs: probs, qkv: q.baseAddress!, dropout: dropout,
                                       batchOffset: 0, scratch: &scratch, threads: 2)
                }
                let label = "blocks \(blocks), dropout \(dropout != nil)"
                assertClose(probs, reference.probs, relative: 1e-5, "\(label): probabilities")
                assertClose(out, reference.out, relative: 1e-5, "\(label): output")
                assertClose(dqkv, reference.dqkv, relative: 1e-5, "\(label): d qkv")
            }
        }
    }

    /// nanoGPT's causal attention written out in loops (Double accumulation).
    private func referenceAttention(qkv: [Float], dout: [Float], dropout: DropoutMask?)
        -> (probs: [Float], out: [Float], dqkv: [Float]) {
        let c = heads * headSize, c3 = 3 * c, t = seq, hs = headSize
        let scale = 1 / Double(hs).squareRoot()
        var probs = [Float](repeating: 0, count: batch * heads * t * t)
        var out = [Float](repeating: 0, count: batch * t * c)
        var dqkv = [Float](repeating: 0, count: batch * t * c3)
        func q(_ b: Int, _ i: Int, _ h: Int, _ d: Int, part: Int) -> Double {
            Double(qkv[(b * t + i) * c3 + part * c + h * hs + d])
        }
        for b in 0..<batch {
            for h in 0..<heads {
                let base = (b * heads + h) * t * t
                var p = [[Double]](repeating: [Double](repeating: 0, count: t), count: t)
                var w = p
                for i in 0..<t {
                    var scores = [Double](repeating: 0, count: i + 1)
                    for j in 0...i {
                        scores[j] = (0..<hs).reduce(0.0) { $0 + q(b, i, h, $1, part: 0) * q(b, j, h, $1, part: 1) } * scale
                    }
                    let m = scores.max()!
                    let e = scores.map { Foundation.exp($0 - m) }
                    let sum = e.reduce(0, +)
                    for j in 0...i {
                        p[i][j] = e[j] / sum
                        probs[base + i * t + j] = Float(p[i][j])
                        w[i][j] = p[i][j] * Double(dropout?.factor(base + i * t + j) ?? 1)
                    }
                    for d in 0..<hs {
                        out[(b * t + i) * c + h * hs + d] = Float((0...i).reduce(0.0) { $0 + w[i][$1] * q(b, $1, h, d, part: 2) })
                    }
                }
                // Backward: dv = wᵀ dy, dw = dy vᵀ, dp = dw ⊙ mask, ds = p ⊙ (dp − Σ p dp), dq = ds k, dk = dsᵀ q.
                func dy(_ i: Int, _ d: Int) -> Double { Double(dout[(b * t + i) * c + h * hs + d]) }
                var ds = [[Double]](repeating: [Double](repeating: 0, count: t), count: t)
                for i in 0..<t {
                    var dp = [Double](repeating: 0, count: i + 1)
                    for j in 0...i {
                        let dw = (0..<hs).reduce(0.0) { $0 + dy(i, $1) * q(b, j, h, $1, part: 2) }
                        dp[j] = dw * Double(dropout?.factor(base + i * t + j) ?? 1)
                    }
                    let dot = (0...i).reduce(0.0) { $0 + p[i][$1] * dp[$1] }
                    for j in 0...i { ds[i][j] = p[i][j] * (dp[j] - dot) }
                }
                for i in 0..<t {
                    for d in 0..<hs {
                        let row = (b * t + i) * c3 + h * hs + d
                        dqkv[row] = Float((0...i).reduce(0.0) { $0 + ds[i][$1] * q(b, $1, h, d, part: 1) } * scale)
                        dqkv[row + c] = Float((i..<t).reduce(0.0) { $0 + ds[$1][i] * q(b, $1, h, d, part: 0) } * scale)
                        dqkv[row + 2 * c] = Float((i..<t).reduce(0.0) { $0 + w[$1][i] * dy($1, d) })
                    }
                }
            }
        }
        return (probs, out, dqkv)
    }

    private func randomFloats(_ count: Int, seed: UInt64) -> [Float] {
        var rng = RandomGenerator(seed: seed)
        var values = [Float](repeating: 0, count: count)
        values.withUnsafeMutableBufferPointer { rng.fillNormal($0, mean: 0, std: 1) }
        return values
    }
}
