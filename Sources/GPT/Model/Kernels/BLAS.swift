import CBLAS

typealias FloatPointer = UnsafeMutablePointer<Float>

/// Row-major `C = alpha * op(A) * op(B) + beta * C` through OpenBLAS, with `C` of shape [m, n]
/// and the inner dimension `k`.
@inline(__always)
func sgemm(transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int, alpha: Float = 1,
           a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
           beta: Float, c: FloatPointer, ldc: Int) {
    if _slowPath(isRecordingMatrixProducts) {
        MatrixProductTrace.note(.init(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda,
                                      b: b, ldb: ldb, beta: beta, c: c, ldc: ldc))
    }
    var beta = beta
    if beta == 0 {
        // OpenBLAS clears C for beta 0 with a loop about three times slower than memset.
        if ldc == n {
            c.update(repeating: 0, count: m * n)
        } else {
            for row in 0..<m { (c + row * ldc).update(repeating: 0, count: n) }
        }
        beta = 1
    }
    cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
}

/// PyTorch's Linear forward: `out[rows, outF] = inp[rows, inF] · weight[outF, inF]ᵀ + bias`.
/// When `accumulate` is true the product is added to what `out` holds (bias is then not added).
func linearForward(out: FloatPointer, inp: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                   bias: UnsafePointer<Float>?, rows: Int, inFeatures: Int, outFeatures: Int,
                   accumulate: Bool = false, splitter: WorkSplitter) {
    var beta: Float = accumulate ? 1 : 0
    if !accumulate, let bias {
        broadcastRows(out, bias, rows: rows, columns: outFeatures, splitter: splitter)
        beta = 1
    }
    sgemm(transB: true, m: rows, n: outFeatures, k: inFeatures, a: inp, lda: inFeatures,
          b: weight, ldb: inFeatures, beta: beta, c: out, ldc: outFeatures)
}

/// PyTorch's Linear backward. Adds `doutᵀ · inp` to `dweight` and the column sums of `dout` to
/// `dbias` (neither when nil: a frozen weight); writes (or, with `accumulateInput`, adds)
/// `dout · weight` into `dinp`.
func linearBackward(dinp: FloatPointer?, dweight: FloatPointer?, dbias: FloatPointer?,
                    dout: UnsafePointer<Float>, inp: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                    rows: Int, inFeatures: Int, outFeatures: Int, accumulateInput: Bool = false,
                    ones: UnsafePointer<Float>) {
    if let dinp {
        sgemm(m: rows, n: inFeatures, k: outFeatures, a: dout, lda: outFeatures, b: weight,
              ldb: inFeatures, beta: accumulateInput ? 1 : 0, c: dinp, ldc: inFeatures)
    }
    if let dweight {
        sgemm(transA: true, m: outFeatures, n: inFeatures, k: rows, a: dout, lda: outFeatures,
              b: inp, ldb: inFeatures, beta: 1, c: dweight, ldc: inFeatures)
    }
    if let dbias {
        // Column sums as a matrix-vector product with a vector of ones.
        cblas_sgemv(CblasRowMajor, CblasTrans, Int32(rows), Int32(outFeatures), 1, dout,
                    Int32(outFeatures), ones, 1, 1, dbias, 1)
    }
}

/// Copies `row` into every one of `rows` rows of `out`.
func broadcastRows(_ out: FloatPointer, _ row: UnsafePointer<Float>, rows: Int, columns: Int,
                   splitter: WorkSplitter) {
    splitter.run(rows, costPerItem: columns) { range, _ in
        for r in range {
            (out + r * columns).update(from: row, count: columns)
        }
    }
}

/// `out[r, :] = a[r, :] + bias` (or a plain copy without a bias) for every row.
func copyAddingBias(out: FloatPointer, _ a: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                    rows: Int, columns: Int, splitter: WorkSplitter) {
    guard let bias else {
        splitter.run(rows, costPerItem: columns) { range, _ in
            (out + range.lowerBound * columns).update(from: a + range.lowerBound * columns,
                                                      count: range.count * columns)
        }
        return
    }
    splitter.run(rows, costPerItem: columns) { range, _ in
        let c8 = columns & ~7
        for r in range {
            let o = out + r &* columns, x = a + r &* columns
            var i = 0
            while i < c8 { store8(load8(x + i) + load8(bias + i), o + i); i &+= 8 }
            while i < columns { o[i] = x[i] + bias[i]; i &+= 1 }
        }
    }
}
