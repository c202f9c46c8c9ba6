/// LayerNorm over the last dimension (eps 1e-5, biased variance), as `torch.nn.functional.layer_norm`.
enum LayerNorm {
    static let eps: Float = 1e-5

    /// Normalises each of `rows` rows of `inp` into `out`, saving each row's mean and 1/std.
    static func forward(out: FloatPointer, mean: FloatPointer, rstd: FloatPointer,
                        inp: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                        bias: UnsafePointer<Float>?, rows: Int, columns c: Int, splitter: WorkSplitter) {
        splitter.run(rows, costPerItem: 4 * c) { range, _ in
            let c8 = c & ~7
            for r in range {
                let x = inp + r &* c
                var acc = Vec8.zero
                var i = 0
                while i < c8 { acc += load8(x + i); i &+= 8 }
                var sum = acc.sum()
                while i < c { sum += x[i]; i &+= 1 }
                let m = sum / Float(c)
                var vacc = Vec8.zero
                let mv = Vec8(repeating: m)
                i = 0
                while i < c8 { let d = load8(x + i) - mv; vacc += d * d; i &+= 8 }
                var v = vacc.sum()
                while i < c { let d = x[i] - m; v += d * d; i &+= 1 }
                let s = 1 / (v / Float(c) + eps).squareRoot()
                mean[r] = m
                rstd[r] = s
                let o = out + r &* c
                let sv = Vec8(repeating: s)
                i = 0
                if let bias {
                    while i < c8 {
                        store8((load8(x + i) - mv) * sv * load8(weight + i) + load8(bias + i), o + i)
                        i &+= 8
                    }
                    while i < c { o[i] = (x[i] - m) * s * weight[i] + bias[i]; i &+= 1 }
                } else {
                    while i < c8 { store8((load8(x + i) - mv) * sv * load8(weight + i), o + i); i &+= 8 }
                    while i < c { o[i] = (x[i] - m) * s * weight[i]; i &+= 1 }
                }
            }
        }
    }

    /// Adds the input gradient to `dinp` and the weight and bias gradients to `dweight`/`dbias`
    /// (only the input gradient when `dweight` is nil: a frozen LayerNorm).
    /// `partials` is scratch of `splitter.threads * 2 * columns` floats for per-thread sums.
    static func backward(dinp: FloatPointer, dweight: FloatPointer?, dbias: FloatPointer?,
                         dout: UnsafePointer<Float>, inp: UnsafePointer<Float>,
                         weight: UnsafePointer<Float>, mean: UnsafePointer<Float>,
                         rstd: UnsafePointer<Float>, rows: Int, columns c: Int,
                         partials: FloatPointer, splitter: WorkSplitter) {
        let chunks = splitter.chunks(rows, costPerItem: 8 * c)
        partials.update(repeating: 0, count: chunks * 2 * c)
        splitter.run(rows, costPerItem: 8 * c) { range, chunk in
            let dw = partials + chunk &* 2 &* c
            let db = dw + c
            let c8 = c & ~7
            for r in range {
                let x = inp + r &* c
                let g = dout + r &* c
                let dx = dinp + r &* c
                let m = Vec8(repeating: mean[r])
                let s = Vec8(repeating: rstd[r])
                var accA = Vec8.zero, accB = Vec8.zero
                var i = 0
                while i < c8 {
                    let norm = (load8(x + i) - m) * s
                    let dnorm = load8(weight + i) * load8(g + i)
                    accA += dnorm
                    accB += dnorm * norm
                    i &+= 8
                }
                var sumA = accA.sum(), sumB = accB.sum()
                while i < c {
                    let norm = (x[i] - mean[r]) * rstd[r]
                    let dnorm = weight[i] * g[i]
                    sumA += dnorm
                    sumB += dnorm * norm
                    i &+= 1
                }
                let meanA = Vec8(repeating: sumA / Float(c)), meanB = Vec8(repeating: sumB / Float(c))
                i = 0
                while i < c8 {
                    let norm = (load8(x + i) - m) * s
                    let go = load8(g + i)
                    let dnorm = load8(weight + i) * go
                    store8(load8(db + i) + go, db + i)
                    store8(load8(dw + i) + norm * go, dw + i)
                    store8(load8(dx + i) + (dnorm - meanA - norm * meanB) * s, dx + i)
                    i &+= 8
                }
                while i < c {
                    let norm = (x[i] - mean[r]) * rstd[r]
                    let dnorm = weight[i] * g[i]
                    db[i] += g[i]
                    dw[i] += norm * g[i]
                    dx[i] += (dnorm - meanA[0] - norm * meanB[0]) * rstd[r]
                    i &+= 1
                }
            }
        }
        guard let dweight else { return }
        for chunk in 0..<chunks {
            let dw = partials + chunk * 2 * c
            for i in 0..<c { dweight[i] += dw[i] }
            if let dbias { for i in 0..<c { dbias[i] += dw[c + i] } }
        }
    }
}
