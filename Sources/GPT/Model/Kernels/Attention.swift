import CBLAS
import Dispatch

/// Causal multi-head self-attention on a packed `qkv` [B, T, 3C] (q, k, v side by side, heads
/// contiguous inside each, as nanoGPT's `c_attn` output is split). Each (batch, head) pair is an
/// independent task of two sgemms around a row softmax; tasks run in parallel with OpenBLAS held
/// to one thread, so small products do not pay for OpenBLAS's thread hand-off.
struct Attention {
    let batch: Int, seq: Int, heads: Int, headSize: Int
    var channels: Int { heads * headSize }
    var scale: Float { 1 / Float(headSize).squareRoot() }

    /// Runs `body(b, h, chunk)` for every (batch, head) pair, split across `threads`.
    func forEachHead(threads: Int, _ body: (Int, Int, Int) -> Void) {
        let tasks = batch * heads
        let n = min(threads, tasks)
        if n <= 1 {
            for t in 0..<tasks { body(t / heads, t % heads, 0) }
            return
        }
        let blasThreads = openblas_get_num_threads()
        openblas_set_num_threads(1)
        DispatchQueue.concurrentPerform(iterations: n) { chunk in
            let start = tasks * chunk / n, end = tasks * (chunk + 1) / n
            for t in start..<end { body(t / heads, t % heads, chunk) }
        }
        openblas_set_num_threads(blasThreads)
    }

    /// Fills `probs` [B, H, T, T] with softmax(q kᵀ / √hs) under the causal mask (zeros above the
    /// diagonal) and `out` [B, T, C] with (dropout(probs)) v. `scratch` holds `threads * T * T`.
    /// `batchOffset` is the slice's first sequence in the whole batch (dropout masks are indexed
    /// by position in the whole batch).
    func forward(out: FloatPointer, probs: FloatPointer, qkv: UnsafePointer<Float>,
                 dropout: DropoutMask?, batchOffset: Int, scratch: FloatPointer, threads: Int) {
        let t = seq, c = channels, c3 = 3 * channels, hs = headSize
        forEachHead(threads: threads) { b, h, chunk in
            let q = qkv + b * t * c3 + h * hs
            let k = q + c, v = q + 2 * c
            let p = probs + (b * heads + h) * t * t
            sgemm(transB: true, m: t, n: t, k: hs, alpha: scale, a: q, lda: c3, b: k, ldb: c3,
                  beta: 0, c: p, ldc: t)
            for i in 0..<t { causalSoftmaxRow(p + i * t, length: i + 1, width: t) }
            var weights = UnsafePointer(p)
            if let dropout {
                let d = scratch + chunk * t * t
                dropout.apply(out: d, inp: p, count: t * t, base: ((b + batchOffset) * heads + h) * t * t,
                              splitter: WorkSplitter(threads: 1))
                weights = UnsafePointer(d)
            }
            sgemm(m: t, n: hs, k: t, a: weights, lda: t, b: v, ldb: c3, beta: 0,
                  c: out + b * t * c + h * hs, ldc: c)
        }
    }

    /// Recomputes `probs` [B, H, T, T] from `qkv` exactly as `forward` computed them.
    func probabilities(into probs: FloatPointer, qkv: UnsafePointer<Float>, threads: Int) {
        let t = seq, c = channels, c3 = 3 * channels, hs = headSize
        forEachHead(threads: threads) { b, h, _ in
            let q = qkv + b * t * c3 + h * hs
            let p = probs + (b * heads + h) * t * t
            sgemm(transB: true, m: t, n: t, k: hs, alpha: scale, a: q, lda: c3, b: q + c, ldb: c3,
                  beta: 0, c: p, ldc: t)
            for i in 0..<t { causalSoftmaxRow(p + i * t, length: i + 1, width: t) }
        }
    }

    /// Writes the gradient of q, k and v into `dqkv` [B, T, 3C] given `dout` [B, T, C].
    /// `scratch` holds `threads * 2 * T * T`.
    func backward(dqkv: FloatPointer, dout: UnsafePointer<Float>, probs: UnsafePointer<Float>,
                  qkv: UnsafePointer<Float>, dropout: DropoutMask?, batchOffset: Int, scratch: FloatPointer,
                  threads: Int) {
        let t = seq, c = channels, c3 = 3 * channels, hs = headSize
        forEachHead(threads: threads) { b, h, chunk in
            let q = qkv + b * t * c3 + h * hs
            let k = q + c, v = q + 2 * c
            let dq = dqkv + b * t * c3 + h * hs
            let dk = dq + c, dv = dq + 2 * c
            let p = probs + (b * heads + h) * t * t
            let dy = dout + b * t * c + h * hs
            let dp = scratch + chunk * 2 * t * t
            let base = ((b + batchOffset) * heads + h) * t * t
            var weights = p
            if let dropout {
                let d = dp + t * t
                dropout.apply(out: d, inp: p, count: t * t, base: base, splitter: WorkSplitter(threads: 1))
                weights = UnsafePointer(d)
            }
            // dv = weightsᵀ dy ; d(weights) = dy vᵀ
            sgemm(transA: true, m: t, n: hs, k: t, a: weights, lda: t, b: dy, ldb: c, beta: 0, c: dv, ldc: c3)
            sgemm(transB: true, m: t, n: t, k: hs, a: dy, lda: c, b: v, ldb: c3, beta: 0, c: dp, ldc: t)
            if let dropout {
                dropout.apply(out: dp, inp: dp, count: t * t, base: base, splitter: WorkSplitter(threads: 1))
            }
            for i in 0..<t { softmaxBackwardRow(dp + i * t, probs: p + i * t, length: i + 1, width: t) }
            // dq = scale · dS k ; dk = scale · dSᵀ q
            sgemm(m: t, n: hs, k: t, alpha: scale, a: dp, lda: t, b: k, ldb: c3, beta: 0, c: dq, ldc: c3)
            sgemm(transA: true, m: t, n: hs, k: t, alpha: scale, a: dp, lda: t, b: q, ldb: c3,
                  beta: 0, c: dk, ldc: c3)
        }
    }
}

/// Softmax of `row[0..<length]` in place; `row[length..<width]` set to 0 (the causal mask).
@inline(__always)
func causalSoftmaxRow(_ row: FloatPointer, length: Int, width: Int) {
    let n8 = length & ~7
    var maxv = -Float.infinity
    var i = 0
    if n8 > 0 {
        var mv = load8(row)
        i = 8
        while i < n8 { mv = pointwiseMaxFast(mv, load8(row + i)); i &+= 8 }
        maxv = mv.max()
    }
    while i < length { maxv = max(maxv, row[i]); i &+= 1 }
    let m = Vec8(repeating: maxv)
    var acc = Vec8.zero
    i = 0
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

/// Turns the gradient with respect to softmax output into the gradient with respect to its
/// input, in place: `d[j] = p[j] (d[j] - Σ p·d)` over `0..<length`, zeros beyond.
@inline(__always)
func softmaxBackwardRow(_ d: FloatPointer, probs p: UnsafePointer<Float>, length: Int, width: Int) {
    let n8 = length & ~7
    var acc = Vec8.zero
    var i = 0
    while i < n8 { acc += load8(p + i) * load8(d + i); i &+= 8 }
    var dot = acc.sum()
    while i < length { dot += p[i] * d[i]; i &+= 1 }
    let dv = Vec8(repeating: dot)
    i = 0
    while i < n8 { store8(load8(p + i) * (load8(d + i) - dv), d + i); i &+= 8 }
    while i < length { d[i] = p[i] * (d[i] - dot); i &+= 1 }
    if length < width { (d + length).update(repeating: 0, count: width - length) }
}

/// Lane-wise maximum without `pointwiseMax`'s NaN handling (which defeats vectorisation).
@inline(__always)
func pointwiseMaxFast(_ a: Vec8, _ b: Vec8) -> Vec8 {
    a.replacing(with: b, where: b .> a)
}
