import CBLAS
import Dispatch

/// Causal multi-head self-attention on a packed `qkv` [B, T, 3C] (q, k, v side by side, heads
/// contiguous inside each, as nanoGPT's `c_attn` output is split). Each (batch, head) pair is an
/// independent task of two causal products (sgemm row blocks, see `blocks`) around a row softmax;
/// tasks run in parallel with OpenBLAS held to one thread, so small products do not pay for
/// OpenBLAS's thread hand-off.
struct Attention {
    let batch: Int, seq: Int, heads: Int, headSize: Int
    /// Causal row blocks per T×T product (see `defaultBlocks`).
    let blocks: Int

    init(batch: Int, seq: Int, heads: Int, headSize: Int, blocks: Int? = nil) {
        self.batch = batch
        self.seq = seq
        self.heads = heads
        self.headSize = headSize
        self.blocks = min(max(1, blocks ?? Attention.defaultBlocks(seq: seq)), max(1, seq))
    }
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

    /// The causal mask makes the upper triangle of every T×T product zero, so each product is
    /// split into row blocks that stop at their diagonal block: `blocks` blocks do
    /// (blocks + 1) / (2 · blocks) of the full square's work in `blocks` sgemm calls. Blocks of at
    /// least 32 rows keep each call large enough for OpenBLAS's kernels, at most 8 of them.
    static func defaultBlocks(seq: Int) -> Int { max(1, min(8, seq / max(32, seq / 8))) }

    /// Rows `start..<end` of causal row block `r`.
    @inline(__always)
    func block(_ r: Int) -> (start: Int, end: Int) {
        (seq * r / blocks, seq * (r + 1) / blocks)
    }

    /// `scores[i, j] = alpha · q[i] · k[j]` for j ≤ i (up to the end of i's block) and 0 for the
    /// rest of the T×T square (cleared with one memset, so the products need not clear their
    /// blocks row by row).
    @inline(__always)
    private func causalScores(_ scores: FloatPointer, q: UnsafePointer<Float>, k: UnsafePointer<Float>, ldq: Int,
                              ldk: Int, alpha: Float) {
        scores.update(repeating: 0, count: seq * seq)
        for r in 0..<blocks {
            let (s, e) = block(r)
            sgemm(transB: true, m: e - s, n: e, k: headSize, alpha: alpha, a: q + s * ldq, lda: ldq, b: k,
                  ldb: ldk, beta: 1, c: scores + s * seq, ldc: seq)
        }
    }

    /// `probs` [T, T] = softmax(q kᵀ / √hs) under the causal mask, zeros above the diagonal: the
    /// one computation behind both `forward` and `probabilities`.
    @inline(__always)
    private func causalProbabilities(_ probs: FloatPointer, q: UnsafePointer<Float>, k: UnsafePointer<Float>) {
        causalScores(probs, q: q, k: k, ldq: 3 * channels, ldk: 3 * channels, alpha: scale)
        for i in 0..<seq { causalSoftmaxRow(probs + i * seq, length: i + 1, width: seq) }
    }

    /// `out[i] += alpha · Σ_{j ≤ i} w[i, j] x[j]` for a lower-triangular `w` [T, T].
    @inline(__always)
    private func causalWeightedSum(_ out: FloatPointer, ldo: Int, w: UnsafePointer<Float>, x: UnsafePointer<Float>,
                                   ldx: Int, alpha: Float = 1) {
        for r in 0..<blocks {
            let (s, e) = block(r)
            sgemm(m: e - s, n: headSize, k: e, alpha: alpha, a: w + s * seq, lda: seq, b: x, ldb: ldx, beta: 1,
                  c: out + s * ldo, ldc: ldo)
        }
    }

    /// `out[j] += alpha · Σ_{i ≥ j} w[i, j] x[i]` (the transposed product) for a lower-triangular `w`.
    @inline(__always)
    private func causalTransposedSum(_ out: FloatPointer, ldo: Int, w: UnsafePointer<Float>, x: UnsafePointer<Float>,
                                     ldx: Int, alpha: Float = 1) {
        for r in 0..<blocks {
            let (s, e) = block(r)
            sgemm(transA: true, m: e - s, n: headSize, k: seq - s, alpha: alpha, a: w + s * seq + s, lda: seq,
                  b: x + s * ldx, ldb: ldx, beta: 1, c: out + s * ldo, ldc: ldo)
        }
    }

    /// Fills `probs` [B, H, T, T] with softmax(q kᵀ / √hs) under the causal mask (zeros above the
    /// diagonal) and `out` [B, T, C] with (dropout(probs)) v. `scratch` holds `threads * T * T`.
    /// `batchOffset` is the slice's first sequence in the whole batch (dropout masks are indexed
    /// by position in the whole batch).
    func forward(out: FloatPointer, probs: FloatPointer, qkv: UnsafePointer<Float>,
                 dropout: DropoutMask?, batchOffset: Int, scratch: FloatPointer, threads: Int) {
        let t = seq, c = channels, c3 = 3 * channels, hs = headSize
        // The heads' products add into their columns of `out`: one memset for all of them
        // instead of one per row of every (head, block) product (tens of thousands a step).
        out.update(repeating: 0, count: batch * t * c)
        forEachHead(threads: threads) { b, h, chunk in
            let q = qkv + b * t * c3 + h * hs
            let k = q + c, v = q + 2 * c
            let p = probs + (b * heads + h) * t * t
            causalProbabilities(p, q: q, k: k)
            var weights = UnsafePointer(p)
            if let dropout {
                let d = scratch + chunk * t * t
                dropout.apply(out: d, inp: p, count: t * t, base: ((b + batchOffset) * heads + h) * t * t,
                              splitter: WorkSplitter(threads: 1))
                weights = UnsafePointer(d)
            }
            causalWeightedSum(out + b * t * c + h * hs, ldo: c, w: weights, x: v, ldx: c3)
        }
    }

    /// Recomputes `probs` [B, H, T, T] from `qkv` exactly as `forward` computed them.
    func probabilities(into probs: FloatPointer, qkv: UnsafePointer<Float>, threads: Int) {
        let t = seq, c = channels, c3 = 3 * channels, hs = headSize
        forEachHead(threads: threads) { b, h, _ in
            let q = qkv + b * t * c3 + h * hs
            let p = probs + (b * heads + h) * t * t
            causalProbabilities(p, q: q, k: q + c)
        }
    }

    /// Writes the gradient of q, k and v into `dqkv` [B, T, 3C] given `dout` [B, T, C].
    /// `scratch` holds `threads * 2 * T * T`.
    func backward(dqkv: FloatPointer, dout: UnsafePointer<Float>, probs: UnsafePointer<Float>,
                  qkv: UnsafePointer<Float>, dropout: DropoutMask?, batchOffset: Int, scratch: FloatPointer,
                  threads: Int) {
        let t = seq, c = channels, c3 = 3 * channels, hs = headSize
        dqkv.update(repeating: 0, count: batch * t * c3)  // the products add into it (see `forward`)
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
            // dv = weightsᵀ dy ; d(weights) = dy vᵀ (only where j ≤ i matters)
            causalTransposedSum(dv, ldo: c3, w: weights, x: dy, ldx: c)
            causalScores(dp, q: dy, k: v, ldq: c, ldk: c3, alpha: 1)
            // Softmax backward reads only j ≤ i and clears the rest of each row.
            for i in 0..<t {
                let row = dp + i * t
                if let dropout {
                    dropout.apply(out: row, inp: row, count: i + 1, base: base + i * t, splitter: WorkSplitter(threads: 1))
                }
                softmaxBackwardRow(row, probs: p + i * t, length: i + 1, width: t)
            }
            // dq = scale · dS k ; dk = scale · dSᵀ q
            causalWeightedSum(dq, ldo: c3, w: dp, x: k, ldx: c3, alpha: scale)
            causalTransposedSum(dk, ldo: c3, w: dp, x: q, ldx: c3, alpha: scale)
        }
    }
}

/// Softmax of `row[0..<length]` in place; `row[length..<width]` set to 0 (the causal mask).
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
