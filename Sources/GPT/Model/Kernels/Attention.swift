import Dispatch
import Foundation

/// Fused causal multi-head self-attention (flash-attention style) on a packed `qkv` [B, T, 3C]
/// (q, k, v side by side, heads contiguous inside each, as nanoGPT's `c_attn` output is split).
///
/// Forward takes `queryRows` queries at a time against tiles of `keyColumns` keys, keeps an
/// online softmax (running row maximum and sum, the output rescaled when the maximum grows) and
/// stores only each row's log-sum-exp [B, H, T]. Backward recomputes every probability tile from
/// q, k and that log-sum-exp. No T×T matrix exists anywhere: the memory is O(B·T·C) per layer
/// plus `scratchFloats` per thread. Tiles wholly above the causal diagonal are never visited.
///
/// Each (sequence, head) pair is an independent task; tasks run in parallel. The tile products
/// are `tileProduct`, hand-written SIMD, not OpenBLAS (tiny sgemm calls cost more in overhead
/// than in arithmetic).
struct Attention {
    let batch: Int, seq: Int, heads: Int, headSize: Int

    /// Queries per tile (one online-softmax state each).
    static let queryRows = 16
    /// Keys per tile; a multiple of `queryRows`, so a key tile starts on a query tile. Products
    /// against a tile take only the keys its query rows can see, so a wide tile costs nothing
    /// above the diagonal, and up to T = 64 one tile holds every key of a query block (no online
    /// rescaling); docs/benchmarks.md has the measurements.
    static let keyColumns = 64

    var channels: Int { heads * headSize }
    var scale: Float { 1 / Float(headSize).squareRoot() }
    /// `seq` rounded up to `keyColumns`: the keys and values packed tile by tile, zero-padded.
    private var paddedSeq: Int { Attention.paddedSeq(seq) }
    private static func paddedSeq(_ seq: Int) -> Int { (seq + keyColumns - 1) / keyColumns * keyColumns }

    /// Floats of one thread's scratch for `seq` positions of heads of `headSize`.
    static func scratchFloats(seq: Int, headSize: Int) -> Int {
        let br = queryRows, bc = keyColumns, tp = paddedSeq(seq)
        return 2 * headSize * tp + 4 * br * bc + br * headSize + 2 * br + tp
    }

    /// One thread's scratch, carved out of `base`.
    private struct Scratch {
        let keysT: FloatPointer, valuesT: FloatPointer   // [paddedSeq / keyColumns, hs, keyColumns]
        let scores: FloatPointer, probs: FloatPointer     // [queryRows, keyColumns]
        let dropped: FloatPointer, dScores: FloatPointer  // [queryRows, keyColumns]
        let out: FloatPointer                            // [queryRows, hs]
        let maxima: FloatPointer, sums: FloatPointer      // [queryRows] online softmax state
        let dot: FloatPointer                            // [paddedSeq] rowsum(dO ∘ O)

        init(_ base: FloatPointer, headSize hs: Int, paddedSeq tp: Int) {
            let tile = Attention.queryRows * Attention.keyColumns
            var p = base
            func take(_ n: Int) -> FloatPointer { defer { p += n }; return p }
            keysT = take(hs * tp); valuesT = take(hs * tp)
            scores = take(tile); probs = take(tile); dropped = take(tile); dScores = take(tile)
            out = take(Attention.queryRows * hs)
            maxima = take(Attention.queryRows); sums = take(Attention.queryRows)
            dot = take(tp)
        }
    }

    /// Runs `body(b, h, scratch)` for every (batch, head) pair, split across `threads`.
    private func forEachHead(threads: Int, scratch: FloatPointer, _ body: (Int, Int, Scratch) -> Void) {
        let tasks = batch * heads
        let n = max(1, min(threads, tasks))
        let stride = Attention.scratchFloats(seq: seq, headSize: headSize)
        let hs = headSize, tp = paddedSeq
        if n == 1 {
            let s = Scratch(scratch, headSize: hs, paddedSeq: tp)
            for t in 0..<tasks { body(t / heads, t % heads, s) }
            return
        }
        DispatchQueue.concurrentPerform(iterations: n) { chunk in
            let s = Scratch(scratch + chunk * stride, headSize: hs, paddedSeq: tp)
            for t in tasks * chunk / n..<tasks * (chunk + 1) / n { body(t / heads, t % heads, s) }
        }
    }

    /// Packs the rows `src[j · ld ..< j · ld + hs]` (j < seq) transposed, one key tile at a
    /// time: tile `j / keyColumns` is a contiguous [hs, keyColumns] block, so a tile product
    /// walks 4 KB (hs 64) of consecutive memory instead of hs rows `paddedSeq` floats apart
    /// (4 KB apart at T = 1024: every row in the same L1 set). Zeros past `seq`.
    @inline(__always)
    private func packTransposed(_ dst: FloatPointer, _ src: UnsafePointer<Float>, ld: Int) {
        let t = seq, hs = headSize, bc = Attention.keyColumns
        var j0 = 0
        while j0 < paddedSeq {
            let tile = dst + j0 &* hs, columns = max(0, min(bc, t - j0))
            let first = src + j0 &* ld
            for d in 0..<hs {
                let row = tile + d &* bc
                var from = first + d
                for j in 0..<columns { row[j] = from.pointee; from += ld }
                if columns < bc { zero(row + columns, count: bc &- columns) }
            }
            j0 &+= bc
        }
    }

    /// Keys of a query row `i` that tile `j0..<j0+columns` holds under the causal mask (≤ 0: none).
    @inline(__always)
    private static func visibleKeys(row i: Int, tileStart j0: Int, columns: Int) -> Int {
        min(columns, i - j0 + 1)
    }

    /// Writes `out` [B, T, C] = dropout(softmax(q kᵀ / √hs)) v under the causal mask and `lse`
    /// [B, H, T] = each row's log-sum-exp of the scaled scores (what backward needs).
    /// `batchOffset` is the slice's first sequence in the whole batch (dropout masks are indexed
    /// by position in the whole batch: element (i, j) of pair (b, h) is
    /// `((b + batchOffset) · H + h) · T² + i · T + j`). `scratch` holds `threads · scratchFloats`.
    func forward(out: FloatPointer, lse: FloatPointer, qkv: UnsafePointer<Float>, dropout: DropoutMask?,
                 batchOffset: Int, scratch: FloatPointer, threads: Int) {
        let t = seq, c = channels, c3 = 3 * channels, hs = headSize
        let br = Attention.queryRows, bc = Attention.keyColumns, alpha = scale
        forEachHead(threads: threads, scratch: scratch) { b, h, s in
            let q = qkv + b * t * c3 + h * hs
            let v = q + 2 * c
            packTransposed(s.keysT, q + c, ld: c3)
            let maskBase = ((b + batchOffset) * heads + h) * t * t
            let lseRow = lse + (b * heads + h) * t
            var i0 = 0
            while i0 < t {
                let rows = min(br, t - i0)
                zero(s.out, count: rows &* hs)
                zero(s.sums, count: rows)
                for r in 0..<rows { s.maxima[r] = -.infinity }
                var j0 = 0
                while j0 < i0 + rows {
                    let columns = min(bc, i0 + rows - j0)
                    tileProduct(m: rows, n: (columns + 7) & ~7, k: hs, alpha: alpha, a: q + i0 * c3, aRow: c3,
                                aColumn: 1, b: s.keysT + j0 * hs, ldb: bc, c: s.scores, ldc: bc, accumulate: false)
                    for r in 0..<rows {
                        let i = i0 + r
                        let visible = Attention.visibleKeys(row: i, tileStart: j0, columns: columns)
                        let p = s.probs + r * bc
                        guard visible > 0 else { zero(p, count: columns); continue }
                        let srow = s.scores + r * bc
                        let old = s.maxima[r]
                        let m = max(old, rowMax(srow, count: visible))
                        let sum = exponentiate(p, srow, shift: m, count: visible, width: columns)
                        let correction = old == m ? 1 : Foundation.exp(old - m)
                        s.sums[r] = s.sums[r] * correction + sum
                        s.maxima[r] = m
                        if correction != 1 { scaleRow(s.out + r * hs, by: correction, count: hs) }
                        if let dropout {
                            let base = maskBase + i * t + j0
                            for j in 0..<visible { p[j] *= dropout.factor(base + j) }
                        }
                    }
                    tileProduct(m: rows, n: hs, k: columns, a: s.probs, aRow: bc, aColumn: 1, b: v + j0 * c3,
                                ldb: c3, c: s.out, ldc: hs, accumulate: true)
                    j0 += bc
                }
                for r in 0..<rows {
                    let i = i0 + r
                    let sum = s.sums[r]
                    let dst = out + (b * t + i) * c + h * hs, src = s.out + r * hs
                    let inv = 1 / sum
                    for d in 0..<hs { dst[d] = src[d] * inv }
                    lseRow[i] = s.maxima[r] + Foundation.log(sum)
                }
                i0 += br
            }
        }
    }

    /// Writes the gradient of q, k and v into `dqkv` [B, T, 3C] given `dout` [B, T, C], from the
    /// forward's `out` and `lse` (probabilities recomputed tile by tile, dropout masks regenerated).
    /// Key tiles are the outer loop, so each tile's dk and dv rows are finished before the next.
    func backward(dqkv: FloatPointer, dout: UnsafePointer<Float>, out: UnsafePointer<Float>,
                  lse: UnsafePointer<Float>, qkv: UnsafePointer<Float>, dropout: DropoutMask?, batchOffset: Int,
                  scratch: FloatPointer, threads: Int) {
        let t = seq, c = channels, c3 = 3 * channels, hs = headSize
        let br = Attention.queryRows, bc = Attention.keyColumns, alpha = scale
        forEachHead(threads: threads, scratch: scratch) { b, h, s in
            let q = qkv + b * t * c3 + h * hs
            let k = q + c
            let dq = dqkv + b * t * c3 + h * hs
            let dk = dq + c, dv = dq + 2 * c
            let dy = dout + b * t * c + h * hs, o = out + b * t * c + h * hs
            packTransposed(s.keysT, k, ld: c3)
            packTransposed(s.valuesT, q + 2 * c, ld: c3)
            let maskBase = ((b + batchOffset) * heads + h) * t * t
            let lseRow = lse + (b * heads + h) * t
            // D_i = Σ_d dO[i, d] O[i, d] = Σ_j P[i, j] dP[i, j] (softmax backward's row sum).
            for i in 0..<t { s.dot[i] = dotProduct(dy + i * c, o + i * c, count: hs) }
            for i in 0..<t {
                zero(dq + i &* c3, count: hs)
                zero(dk + i &* c3, count: hs)
                zero(dv + i &* c3, count: hs)
            }
            var j0 = 0
            while j0 < t {
                let tileColumns = min(bc, t - j0)
                var i0 = j0
                while i0 < t {
                    let rows = min(br, t - i0)
                    // Keys of this tile that any of these query rows sees (the rest are masked).
                    let columns = min(tileColumns, i0 + rows - j0), width = (columns + 7) & ~7
                    tileProduct(m: rows, n: width, k: hs, alpha: alpha, a: q + i0 * c3, aRow: c3, aColumn: 1,
                                b: s.keysT + j0 * hs, ldb: bc, c: s.scores, ldc: bc, accumulate: false)
                    // dP̃ = dO vᵀ (the gradient of the dropped probabilities).
                    tileProduct(m: rows, n: width, k: hs, a: dy + i0 * c, aRow: c, aColumn: 1,
                                b: s.valuesT + j0 * hs, ldb: bc, c: s.dScores, ldc: bc, accumulate: false)
                    for r in 0..<rows {
                        let i = i0 + r
                        let visible = Attention.visibleKeys(row: i, tileStart: j0, columns: columns)
                        let p = s.probs + r * bc, pd = s.dropped + r * bc, ds = s.dScores + r * bc
                        let srow = s.scores + r * bc
                        let shift = lseRow[i], rowDot = s.dot[i]
                        _ = exponentiate(p, srow, shift: shift, count: max(visible, 0), width: columns)
                        if let dropout {
                            let base = maskBase + i * t + j0
                            for j in 0..<max(visible, 0) {
                                let f = dropout.factor(base + j)
                                pd[j] = p[j] * f
                                ds[j] = p[j] * (ds[j] * f - rowDot)
                            }
                            for j in max(visible, 0)..<columns { pd[j] = 0; ds[j] = 0 }
                        } else {
                            softmaxGradient(ds, probs: p, dot: rowDot, count: max(visible, 0), width: columns)
                        }
                    }
                    let weights = dropout == nil ? s.probs : s.dropped
                    // dv[j] += Σ_i P̃[i, j] dO[i] ; dq[i] += scale Σ_j dS[i, j] k[j] ; dk[j] += scale Σ_i dS[i, j] q[i]
                    tileProduct(m: columns, n: hs, k: rows, a: weights, aRow: 1, aColumn: bc, b: dy + i0 * c, ldb: c,
                                c: dv + j0 * c3, ldc: c3, accumulate: true)
                    tileProduct(m: rows, n: hs, k: columns, alpha: alpha, a: s.dScores, aRow: bc, aColumn: 1,
                                b: k + j0 * c3, ldb: c3, c: dq + i0 * c3, ldc: c3, accumulate: true)
                    tileProduct(m: columns, n: hs, k: rows, alpha: alpha, a: s.dScores, aRow: 1, aColumn: bc,
                                b: q + i0 * c3, ldb: c3, c: dk + j0 * c3, ldc: c3, accumulate: true)
                    i0 += br
                }
                j0 += bc
            }
        }
    }
}

/// `p[j] = e^(s[j] - shift)` for j < count and 0 up to `width`; returns Σ p. `s` must hold
/// `count` rounded up to 8 floats.
@inline(__always)
private func exponentiate(_ p: FloatPointer, _ s: UnsafePointer<Float>, shift: Float, count: Int, width: Int) -> Float {
    let n8 = count & ~7
    let m = Vec8(repeating: shift)
    var acc = Vec8.zero
    var j = 0
    while j < n8 {
        let e = exp8(load8(s + j) - m)
        store8(e, p + j)
        acc += e
        j &+= 8
    }
    if j < count {
        // The last partial vector: lanes past `count` read scores the tile holds (it is 8-wide)
        // and are cleared. The mask is integer arithmetic (lane - remaining is negative, its
        // sign bit spread, for the lanes kept): `replace(with:where:)` on an `Int32` comparison
        // compiles to a lane-by-lane loop through memory.
        let lanes = SIMD8<Int32>(0, 1, 2, 3, 4, 5, 6, 7)
        let keep = (lanes &- SIMD8<Int32>(repeating: Int32(truncatingIfNeeded: count &- j))) &>> 31
        let e = unsafeBitCast(unsafeBitCast(exp8(load8(s + j) - m), to: SIMD8<Int32>.self) & keep, to: Vec8.self)
        store8(e, p + j)
        acc += e
        j &+= 8
    }
    let sum = acc.sum()
    if j < width { zero(p + j, count: width &- j) }
    return sum
}

/// `ds[j] = p[j] (ds[j] - dot)` for j < count (softmax backward given Σ p·ds = `dot`), 0 up to `width`.
@inline(__always)
private func softmaxGradient(_ ds: FloatPointer, probs p: UnsafePointer<Float>, dot: Float, count: Int, width: Int) {
    let n8 = count & ~7
    let dv = Vec8(repeating: dot)
    var j = 0
    while j < n8 { store8(load8(p + j) * (load8(ds + j) - dv), ds + j); j &+= 8 }
    while j < count { ds[j] = p[j] * (ds[j] - dot); j &+= 1 }
    if count < width { zero(ds + count, count: width &- count) }
}

/// `p[0..<count] = 0` in vector stores: the attention kernel clears rows of a few dozen floats,
/// for which a `memset` call costs more than the stores.
@inline(__always)
private func zero(_ p: FloatPointer, count: Int) {
    let n8 = count & ~7
    var j = 0
    while j < n8 { store8(.zero, p + j); j &+= 8 }
    while j < count { p[j] = 0; j &+= 1 }
}

/// `row[0..<count] *= factor`.
@inline(__always)
private func scaleRow(_ row: FloatPointer, by factor: Float, count: Int) {
    let n8 = count & ~7, f = Vec8(repeating: factor)
    var j = 0
    while j < n8 { store8(load8(row + j) * f, row + j); j &+= 8 }
    while j < count { row[j] *= factor; j &+= 1 }
}

/// Σ a[j] b[j] over `count` floats.
@inline(__always)
private func dotProduct(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, count: Int) -> Float {
    let n8 = count & ~7
    var acc = Vec8.zero
    var j = 0
    while j < n8 { acc = multiplyAdd(load8(a + j), load8(b + j), acc); j &+= 8 }
    var sum = acc.sum()
    while j < count { sum += a[j] * b[j]; j &+= 1 }
    return sum
}

/// Softmax of `row[0..<length]` in place; `row[length..<width]` set to 0 (the causal mask).
/// (The key/value-cache generator's attention; training uses the fused kernel above.)
@inline(__always)
func causalSoftmaxRow(_ row: FloatPointer, length: Int, width: Int) {
    let n8 = length & ~7
    let m = Vec8(repeating: rowMax(row, count: length))
    var acc = Vec8.zero
    var i = 0
    while i < n8 {
        let e = exp8(load8(row + i) - m)
        store8(e, row + i)
        acc += e
        i &+= 8
    }
    var sum = acc.sum()
    if i < length {
        var tail = Vec8(repeating: -Float.infinity)
        let rest = length - i
        for j in 0..<rest { tail[j] = row[i + j] }
        let e = exp8(tail - m)
        for j in 0..<rest { row[i + j] = e[j]; sum += e[j] }
    }
    let inv = 1 / sum
    let invv = Vec8(repeating: inv)
    i = 0
    while i < n8 { store8(load8(row + i) * invv, row + i); i &+= 8 }
    while i < length { row[i] *= inv; i &+= 1 }
    if length < width { (row + length).update(repeating: 0, count: width - length) }
}
