/// `c[m×n] = alpha · a[m×k] · b[k×n]`, or `c += …` when `accumulate`: the small dense product of
/// the attention tiles (a few dozen rows and columns), written out with SIMD so that it costs no
/// call or packing overhead. `a`'s element (r, p) is at `a[r · aRow + p · aColumn]`, so a
/// transposed operand is the same call with its strides swapped; `b` and `c` are row-major with
/// leading dimensions `ldb` and `ldc`.
///
/// Register tiles of 4 rows × 16 columns (eight accumulators): each step along `k` loads two
/// vectors of `b`, broadcasts four elements of `a` and issues eight multiply-adds. Columns past
/// the last multiple of 8 run as scalars (head sizes that are multiples of 8 never do).
@inline(__always)
func tileProduct(m: Int, n: Int, k: Int, alpha: Float = 1, a: UnsafePointer<Float>, aRow: Int, aColumn: Int,
                 b: UnsafePointer<Float>, ldb: Int, c: FloatPointer, ldc: Int, accumulate: Bool) {
    let scale = Vec8(repeating: alpha)
    @inline(__always) func put(_ v: Vec8, _ dst: FloatPointer) {
        store8(accumulate ? multiplyAdd(v, scale, load8(dst)) : v * scale, dst)
    }
    var r = 0
    while r < m {
        let rows = min(4, m - r)
        // Rows past the end repeat the last row; their results are not stored.
        let a0 = a + r * aRow
        let a1 = a + (r + min(1, rows - 1)) * aRow
        let a2 = a + (r + min(2, rows - 1)) * aRow
        let a3 = a + (r + min(3, rows - 1)) * aRow
        let c0 = c + r * ldc, c1 = c0 + ldc, c2 = c1 + ldc, c3 = c2 + ldc
        var j = 0
        while j + 16 <= n {
            var s00 = Vec8.zero, s01 = Vec8.zero, s10 = Vec8.zero, s11 = Vec8.zero
            var s20 = Vec8.zero, s21 = Vec8.zero, s30 = Vec8.zero, s31 = Vec8.zero
            var bp = b + j
            var o = 0
            for _ in 0..<k {
                let b0 = load8(bp), b1 = load8(bp + 8)
                let x0 = Vec8(repeating: a0[o]), x1 = Vec8(repeating: a1[o])
                s00 = multiplyAdd(x0, b0, s00); s01 = multiplyAdd(x0, b1, s01)
                s10 = multiplyAdd(x1, b0, s10); s11 = multiplyAdd(x1, b1, s11)
                let x2 = Vec8(repeating: a2[o]), x3 = Vec8(repeating: a3[o])
                s20 = multiplyAdd(x2, b0, s20); s21 = multiplyAdd(x2, b1, s21)
                s30 = multiplyAdd(x3, b0, s30); s31 = multiplyAdd(x3, b1, s31)
                bp += ldb
                o &+= aColumn
            }
            put(s00, c0 + j); put(s01, c0 + j + 8)
            if rows > 1 { put(s10, c1 + j); put(s11, c1 + j + 8) }
            if rows > 2 { put(s20, c2 + j); put(s21, c2 + j + 8) }
            if rows > 3 { put(s30, c3 + j); put(s31, c3 + j + 8) }
            j += 16
        }
        if j + 8 <= n {
            var s0 = Vec8.zero, s1 = Vec8.zero, s2 = Vec8.zero, s3 = Vec8.zero
            var bp = b + j
            var o = 0
            for _ in 0..<k {
                let b0 = load8(bp)
                s0 = multiplyAdd(Vec8(repeating: a0[o]), b0, s0)
                s1 = multiplyAdd(Vec8(repeating: a1[o]), b0, s1)
                s2 = multiplyAdd(Vec8(repeating: a2[o]), b0, s2)
                s3 = multiplyAdd(Vec8(repeating: a3[o]), b0, s3)
                bp += ldb
                o &+= aColumn
            }
            put(s0, c0 + j)
            if rows > 1 { put(s1, c1 + j) }
            if rows > 2 { put(s2, c2 + j) }
            if rows > 3 { put(s3, c3 + j) }
            j += 8
        }
        while j < n {
            for i in 0..<rows {
                let ai = a + (r + i) * aRow
                var sum: Float = 0
                for p in 0..<k { sum += ai[p * aColumn] * b[p * ldb + j] }
                let dst = c + (r + i) * ldc + j
                dst.pointee = accumulate ? dst.pointee + alpha * sum : alpha * sum
            }
            j += 1
        }
        r += 4
    }
}
