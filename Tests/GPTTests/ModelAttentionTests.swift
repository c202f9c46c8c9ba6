import XCTest
@testable import GPT

/// The fused attention kernel (tiles, online softmax, probabilities recomputed in backward)
/// against a plain-loop reference of nanoGPT's attention, forward and backward, with and without
/// dropout on the weights, for lengths that are and are not multiples of the tiles (T = 1 too)
/// and head sizes with and without a SIMD tail.
final class ModelAttentionTests: XCTestCase {
    var batch = 2, seq = 70, heads = 3, headSize = 5

    func testFusedAttentionMatchesThePlainLoopReference() {
        XCTAssertEqual(Attention.keyColumns % Attention.queryRows, 0)
        for (t, h, hs) in [(70, 3, 5), (1, 2, 8), (16, 1, 8), (33, 2, 32), (64, 2, 16)] {
            (seq, heads, headSize) = (t, h, hs)
            let c = heads * headSize
            let qkv = randomFloats(batch * t * 3 * c, seed: 1), dout = randomFloats(batch * t * c, seed: 2)
            for dropout in [nil, DropoutMask(stepKey: 99, site: .attentionWeights(block: 0), probability: 0.3)] {
                let reference = referenceAttention(qkv: qkv, dout: dout, dropout: dropout)
                let attention = Attention(batch: batch, seq: t, heads: heads, headSize: headSize)
                for threads in [1, 2] {
                    var out = [Float](repeating: .nan, count: batch * t * c)
                    var lse = [Float](repeating: .nan, count: batch * heads * t)
                    var dqkv = [Float](repeating: .nan, count: batch * t * 3 * c)
                    var scratch = [Float](repeating: .nan,
                                          count: threads * Attention.scratchFloats(seq: t, headSize: headSize))
                    qkv.withUnsafeBufferPointer { q in
                        attention.forward(out: &out, lse: &lse, qkv: q.baseAddress!, dropout: dropout, batchOffset: 0,
                                          scratch: &scratch, threads: threads)
                        attention.backward(dqkv: &dqkv, dout: dout, out: out, lse: lse, qkv: q.baseAddress!,
                                           dropout: dropout, batchOffset: 0, scratch: &scratch, threads: threads)
                    }
                    let label = "T \(t), heads \(h)×\(hs), dropout \(dropout != nil), threads \(threads)"
                    assertClose(lse, reference.lse, relative: 1e-5, "\(label): log-sum-exp")
                    assertClose(out, reference.out, relative: 1e-5, "\(label): output")
                    assertClose(dqkv, reference.dqkv, relative: 1e-5, "\(label): d qkv")
                }
            }
        }
    }

    /// A slice's dropout masks are indexed by its sequences' place in the whole batch.
    func testBatchOffsetSelectsTheWholeBatchMask() {
        (seq, heads, headSize) = (20, 2, 8)
        let c = heads * headSize, t = seq
        let dropout = DropoutMask(stepKey: 7, site: .attentionWeights(block: 1), probability: 0.5)
        let qkv = randomFloats(batch * t * 3 * c, seed: 5)
        let whole = Attention(batch: batch, seq: t, heads: heads, headSize: headSize)
        let second = Attention(batch: 1, seq: t, heads: heads, headSize: headSize)
        var out = [Float](repeating: 0, count: batch * t * c), lse = [Float](repeating: 0, count: batch * heads * t)
        var outSecond = [Float](repeating: 0, count: t * c), lseSecond = [Float](repeating: 0, count: heads * t)
        var scratch = [Float](repeating: 0, count: Attention.scratchFloats(seq: t, headSize: headSize))
        qkv.withUnsafeBufferPointer { q in
            whole.forward(out: &out, lse: &lse, qkv: q.baseAddress!, dropout: dropout, batchOffset: 0,
                          scratch: &scratch, threads: 1)
            second.forward(out: &outSecond, lse: &lseSecond, qkv: q.baseAddress! + t * 3 * c, dropout: dropout,
                           batchOffset: 1, scratch: &scratch, threads: 1)
        }
        XCTAssertEqual(Array(out[(t * c)...]), outSecond)
        XCTAssertNotEqual(Array(out[..<(t * c)]), outSecond)
    }

    /// nanoGPT's causal attention written out in loops (Double accumulation).
    private func referenceAttention(qkv: [Float], dout: [Float], dropout: DropoutMask?)
        -> (lse: [Float], out: [Float], dqkv: [Float]) {
        let c = heads * headSize, c3 = 3 * c, t = seq, hs = headSize
        let scale = 1 / Double(hs).squareRoot()
        var lse = [Float](repeating: 0, count: batch * heads * t)
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
                    lse[(b * heads + h) * t + i] = Float(m + Foundation.log(sum))
                    for j in 0...i {
                        p[i][j] = e[j] / sum
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
        return (lse, out, dqkv)
    }

    private func randomFloats(_ count: Int, seed: UInt64) -> [Float] {
        var rng = RandomGenerator(seed: seed)
        var values = [Float](repeating: 0, count: count)
        values.withUnsafeMutableBufferPointer { rng.fillNormal($0, mean: 0, std: 1) }
        return values
    }
}
