/// The Linear layers of inference (`BatchDecoder`): `out[r, j] = bias[j] + Σₖ inp[r, k] · weight[j, k]`
/// (or `out[r, j] += Σₖ …` with `accumulate`), `weight` row-major `[outFeatures, inFeatures]` as
/// PyTorch's Linear keeps it. Every element is the same dot product whatever the number of rows,
/// their order, the tile it lands in or the thread that computes it: eight lanes along k, one
/// multiply-add per chunk in order, the lanes summed in one fixed tree, then the tail of k in
/// order, then the bias (or the value in `out`). So a sequence's logits do not depend on what
/// shares its decode steps, as with one sgemm (whose per-element order is fixed too).
///
/// Why not sgemm: OpenBLAS packs the whole weight matrix on every call; decoding multiplies one
/// to a few dozen rows, so the packing was over half of a decode step's instructions (callgrind,
/// shakespeare_char, one row: 1.39M of 2.27M instructions per token) and the 4-wide micro-kernel
/// ran a quarter full. Here the weights are read once per call, straight from where they are:
/// three weight rows at a time stay in L1 while every row passes over them, four rows × three
/// weight rows per block (twelve accumulators). At 16 rows of GPT-2 124M's shapes this ran at
/// 25–28 GMAC/s on one core here, against 18–20 for OpenBLAS's sgemm of the same product
/// (packing included) and 14–20 for two rows × four weight rows in L2-sized tiles. The output
/// columns are split between threads.
func rowProduct(out: FloatPointer, inp: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                bias: UnsafePointer<Float>?, rows: Int, inFeatures k: Int, outFeatures n: Int,
                accumulate: Bool = false, inStride: Int? = nil, outStride: Int? = nil, splitter: WorkSplitter) {
    guard rows > 0, n > 0 else { return }
    let ldx = inStride ?? k, ldo = outStride ?? n
    #if DEBUG
    // Unoptimized builds (the tests) run SIMD8 arithmetic lane by lane through generic code, ten
    // times slower than this scalar form of the same arithmetic (the same lanes, order and sums).
    splitter.run(n, costPerItem: rows * k) { range, _ in
        for r in 0..<rows {
            for j in range { rowElementScalar(out: out, inp: inp, weight: weight, bias: bias, r: r, j: j, k: k, ldx: ldx, ldo: ldo, accumulate: accumulate) }
        }
    }
    return
    #endif
    splitter.run(n, costPerItem: rows * k) { range, _ in
        // Three weight rows at a time (they stay in L1) against every row: four rows per block
        // (twelve accumulators: per chunk of k, three loads of the weights and four of the rows),
        // then the rows left over one by one, then the weight rows left over element by element.
        var j = range.lowerBound
        while j + 3 <= range.upperBound {
            var r = 0
            while rows - r >= 4 {
                rowBlock4x3(out: out, inp: inp, weight: weight, bias: bias, r: r, j: j, k: k, ldx: ldx, ldo: ldo, accumulate: accumulate)
                r += 4
            }
            while r < rows {
                rowBlock1x3(out: out, inp: inp, weight: weight, bias: bias, r: r, j: j, k: k, ldx: ldx, ldo: ldo, accumulate: accumulate)
                r += 1
            }
            j += 3
        }
        while j < range.upperBound {
            for r in 0..<rows {
                rowElement(out: out, inp: inp, weight: weight, bias: bias, r: r, j: j, k: k, ldx: ldx, ldo: ldo, accumulate: accumulate)
            }
            j += 1
        }
    }
}

/// The eight lanes of `v` summed in one fixed order (halves, then halves of those).
@inline(__always)
private func laneSum(_ v: Vec8) -> Float {
    let four = v.lowHalf + v.highHalf
    let two = four.lowHalf + four.highHalf
    return two[0] + two[1]
}

/// The finished dot product `sum` of the vector part and the tail `k8..<k` of row `x` and weight
/// row `w`, stored into `out` element `(r, j)`: every block ends here, so every element rounds alike.
/// Stores element `(r, j)`'s `sum` into `out`: added to it, or plus the bias, or alone.
@inline(__always)
private func store(_ sum: Float, out: FloatPointer, bias: UnsafePointer<Float>?, r: Int, j: Int, ldo: Int,
                   accumulate: Bool) {
    let o = out + r * ldo + j
    if accumulate {
        o.pointee = o.pointee + sum
    } else if let bias {
        o.pointee = bias[j] + sum
    } else {
        o.pointee = sum
    }
}

@inline(__always)
private func finish(_ lanes: Vec8, x: UnsafePointer<Float>, w: UnsafePointer<Float>, k8: Int, k: Int,
                    out: FloatPointer, bias: UnsafePointer<Float>?, r: Int, j: Int, ldo: Int, accumulate: Bool) {
    var sum = laneSum(lanes)
    var t = k8
    while t < k { sum += x[t] * w[t]; t += 1 }
    store(sum, out: out, bias: bias, r: r, j: j, ldo: ldo, accumulate: accumulate)
}

@inline(__always)
private func rowBlock4x3(out: FloatPointer, inp: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                         bias: UnsafePointer<Float>?, r: Int, j: Int, k: Int, ldx: Int, ldo: Int, accumulate: Bool) {
    let x0 = inp + r * ldx, x1 = x0 + ldx, x2 = x1 + ldx, x3 = x2 + ldx
    let w0 = weight + j * k, w1 = w0 + k, w2 = w1 + k
    var s00 = Vec8.zero, s01 = Vec8.zero, s02 = Vec8.zero
    var s10 = Vec8.zero, s11 = Vec8.zero, s12 = Vec8.zero
    var s20 = Vec8.zero, s21 = Vec8.zero, s22 = Vec8.zero
    var s30 = Vec8.zero, s31 = Vec8.zero, s32 = Vec8.zero
    let k8 = k & ~7
    var t = 0
    while t < k8 {
        let b0 = load8(w0 + t), b1 = load8(w1 + t), b2 = load8(w2 + t)
        let a0 = load8(x0 + t)
        s00 = multiplyAdd(a0, b0, s00); s01 = multiplyAdd(a0, b1, s01); s02 = multiplyAdd(a0, b2, s02)
        let a1 = load8(x1 + t)
        s10 = multiplyAdd(a1, b0, s10); s11 = multiplyAdd(a1, b1, s11); s12 = multiplyAdd(a1, b2, s12)
        let a2 = load8(x2 + t)
        s20 = multiplyAdd(a2, b0, s20); s21 = multiplyAdd(a2, b1, s21); s22 = multiplyAdd(a2, b2, s22)
        let a3 = load8(x3 + t)
        s30 = multiplyAdd(a3, b0, s30); s31 = multiplyAdd(a3, b1, s31); s32 = multiplyAdd(a3, b2, s32)
        t += 8
    }
    finish(s00, x: x0, w: w0, k8: k8, k: k, out: out, bias: bias, r: r + 0, j: j + 0, ldo: ldo, accumulate: accumulate)
    finish(s01, x: x0, w: w1, k8: k8, k: k, out: out, bias: bias, r: r + 0, j: j + 1, ldo: ldo, accumulate: accumulate)
    finish(s02, x: x0, w: w2, k8: k8, k: k, out: out, bias: bias, r: r + 0, j: j + 2, ldo: ldo, accumulate: accumulate)
    finish(s10, x: x1, w: w0, k8: k8, k: k, out: out, bias: bias, r: r + 1, j: j + 0, ldo: ldo, accumulate: accumulate)
    finish(s11, x: x1, w: w1, k8: k8, k: k, out: out, bias: bias, r: r + 1, j: j + 1, ldo: ldo, accumulate: accumulate)
    finish(s12, x: x1, w: w2, k8: k8, k: k, out: out, bias: bias, r: r + 1, j: j + 2, ldo: ldo, accumulate: accumulate)
    finish(s20, x: x2, w: w0, k8: k8, k: k, out: out, bias: bias, r: r + 2, j: j + 0, ldo: ldo, accumulate: accumulate)
    finish(s21, x: x2, w: w1, k8: k8, k: k, out: out, bias: bias, r: r + 2, j: j + 1, ldo: ldo, accumulate: accumulate)
    finish(s22, x: x2, w: w2, k8: k8, k: k, out: out, bias: bias, r: r + 2, j: j + 2, ldo: ldo, accumulate: accumulate)
    finish(s30, x: x3, w: w0, k8: k8, k: k, out: out, bias: bias, r: r + 3, j: j + 0, ldo: ldo, accumulate: accumulate)
    finish(s31, x: x3, w: w1, k8: k8, k: k, out: out, bias: bias, r: r + 3, j: j + 1, ldo: ldo, accumulate: accumulate)
    finish(s32, x: x3, w: w2, k8: k8, k: k, out: out, bias: bias, r: r + 3, j: j + 2, ldo: ldo, accumulate: accumulate)
}

@inline(__always)
private func rowBlock1x3(out: FloatPointer, inp: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                         bias: UnsafePointer<Float>?, r: Int, j: Int, k: Int, ldx: Int, ldo: Int, accumulate: Bool) {
    let x0 = inp + r * ldx
    let w0 = weight + j * k, w1 = w0 + k, w2 = w1 + k
    var s0 = Vec8.zero, s1 = Vec8.zero, s2 = Vec8.zero
    let k8 = k & ~7
    var t = 0
    while t < k8 {
        let a0 = load8(x0 + t)
        s0 = multiplyAdd(a0, load8(w0 + t), s0); s1 = multiplyAdd(a0, load8(w1 + t), s1); s2 = multiplyAdd(a0, load8(w2 + t), s2)
        t += 8
    }
    finish(s0, x: x0, w: w0, k8: k8, k: k, out: out, bias: bias, r: r, j: j, ldo: ldo, accumulate: accumulate)
    finish(s1, x: x0, w: w1, k8: k8, k: k, out: out, bias: bias, r: r, j: j + 1, ldo: ldo, accumulate: accumulate)
    finish(s2, x: x0, w: w2, k8: k8, k: k, out: out, bias: bias, r: r, j: j + 2, ldo: ldo, accumulate: accumulate)
}

@inline(__always)
private func rowElement(out: FloatPointer, inp: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                        bias: UnsafePointer<Float>?, r: Int, j: Int, k: Int, ldx: Int, ldo: Int, accumulate: Bool) {
    let x0 = inp + r * ldx, w0 = weight + j * k
    var s = Vec8.zero
    let k8 = k & ~7
    var t = 0
    while t < k8 {
        s = multiplyAdd(load8(x0 + t), load8(w0 + t), s)
        t += 8
    }
    finish(s, x: x0, w: w0, k8: k8, k: k, out: out, bias: bias, r: r, j: j, ldo: ldo, accumulate: accumulate)
}

#if DEBUG
/// `rowElement` in scalars: lane `l` of chunk `t` is element `t + l`, summed as `laneSum` does.
private func rowElementScalar(out: FloatPointer, inp: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                              bias: UnsafePointer<Float>?, r: Int, j: Int, k: Int, ldx: Int, ldo: Int, accumulate: Bool) {
    let x = inp + r * ldx, w = weight + j * k
    var l0: Float = 0, l1: Float = 0, l2: Float = 0, l3: Float = 0, l4: Float = 0, l5: Float = 0, l6: Float = 0, l7: Float = 0
    let k8 = k & ~7
    var t = 0
    while t < k8 {
        l0 = x[t] * w[t] + l0; l1 = x[t + 1] * w[t + 1] + l1; l2 = x[t + 2] * w[t + 2] + l2; l3 = x[t + 3] * w[t + 3] + l3
        l4 = x[t + 4] * w[t + 4] + l4; l5 = x[t + 5] * w[t + 5] + l5; l6 = x[t + 6] * w[t + 6] + l6; l7 = x[t + 7] * w[t + 7] + l7
        t += 8
    }
    var sum = ((l0 + l4) + (l2 + l6)) + ((l1 + l5) + (l3 + l7))
    while t < k { sum += x[t] * w[t]; t += 1 }
    store(sum, out: out, bias: bias, r: r, j: j, ldo: ldo, accumulate: accumulate)
}
#endif
