/// Eight-lane versions of exp and erf accurate to a few float ulps, so the softmax, GELU and
/// cross-entropy kernels never call scalar libm in their inner loops.
typealias Vec8 = SIMD8<Float>

/// `a * b + c`: one fused instruction where the build targets FMA (release builds on x86-64,
/// see Package.swift), a multiply and an add elsewhere (a lane-wise `fmaf` call would be slow).
@inline(__always)
func multiplyAdd<V: SIMD>(_ a: V, _ b: V, _ c: V) -> V where V.Scalar == Float {
    #if GPT_DIST_HASWELL
    return c.addingProduct(a, b)
    #else
    return a * b + c
    #endif
}

/// e^x (Cephes' expf polynomial after Cody–Waite range reduction); inputs clamped to
/// [-87.3, 88.3], the range where the result is a normal float.
@inline(__always)
func exp8(_ input: Vec8) -> Vec8 {
    var x = input
    x.replace(with: Vec8(repeating: 88.3), where: x .> 88.3)
    x.replace(with: Vec8(repeating: -87.3), where: x .< -87.3)
    let magic = Vec8(repeating: 12_582_912) // 1.5 * 2^23: adding it rounds to an integer
    let shifted = multiplyAdd(x, Vec8(repeating: 1.442_695_04), magic)
    let n = shifted - magic
    var r = multiplyAdd(n, Vec8(repeating: -0.693_359_375), x)
    r = multiplyAdd(n, Vec8(repeating: 2.121_944_4e-4), r)
    var p = Vec8(repeating: 1.987_569_15e-4)
    p = multiplyAdd(p, r, Vec8(repeating: 1.398_199_95e-3))
    p = multiplyAdd(p, r, Vec8(repeating: 8.333_451_9e-3))
    p = multiplyAdd(p, r, Vec8(repeating: 4.166_579_59e-2))
    p = multiplyAdd(p, r, Vec8(repeating: 1.666_666_55e-1))
    p = multiplyAdd(p, r, Vec8(repeating: 5.000_000_1e-1))
    let y = multiplyAdd(p, r * r, r) + 1
    // The integer n sits in the low mantissa bits of `shifted`; build 2^n from it.
    let bits = unsafeBitCast(shifted, to: SIMD8<UInt32>.self)
    let scaleBits = (bits &- 0x4B40_0000 &+ 127) &<< 23
    return y * unsafeBitCast(scaleBits, to: Vec8.self)
}

/// erf(x) as a rational function of x (the float approximation used by Eigen and XLA), exact to
/// about 1e-7; inputs clamped to [-4, 4], outside which erf is ±1 in float.
@inline(__always)
func erf8(_ input: Vec8) -> Vec8 {
    var x = input
    x.replace(with: Vec8(repeating: 4), where: x .> 4)
    x.replace(with: Vec8(repeating: -4), where: x .< -4)
    let x2 = x * x
    var p = multiplyAdd(x2, Vec8(repeating: -2.726_142_258_013_06e-10), Vec8(repeating: 2.770_681_424_959_02e-08))
    p = multiplyAdd(x2, p, Vec8(repeating: -2.101_024_020_825_08e-06))
    p = multiplyAdd(x2, p, Vec8(repeating: -5.692_506_394_623_46e-05))
    p = multiplyAdd(x2, p, Vec8(repeating: -7.349_906_303_268_55e-04))
    p = multiplyAdd(x2, p, Vec8(repeating: -2.954_599_808_540_25e-03))
    p = multiplyAdd(x2, p, Vec8(repeating: -1.609_603_332_624_15e-02))
    p = x * p
    var q = multiplyAdd(x2, Vec8(repeating: -1.456_607_184_649_96e-05), Vec8(repeating: -2.133_740_552_789_05e-04))
    q = multiplyAdd(x2, q, Vec8(repeating: -1.682_826_974_382_03e-03))
    q = multiplyAdd(x2, q, Vec8(repeating: -7.373_329_167_204_68e-03))
    q = multiplyAdd(x2, q, Vec8(repeating: -1.426_473_905_141_89e-02))
    return p / q
}

/// Sixteen lanes: two registers whose operations interleave, for kernels whose single-vector
/// dependency chain is longer than the core can overlap (GELU).
typealias Vec16 = SIMD16<Float>

/// Loads `V.scalarCount` floats (no alignment required).
@inline(__always)
func loadVector<V: SIMD>(_ p: UnsafePointer<Float>) -> V where V.Scalar == Float {
    UnsafeRawPointer(p).loadUnaligned(as: V.self)
}

/// Stores a vector of floats (no alignment required).
@inline(__always)
func store<V: SIMD>(_ v: V, _ p: UnsafeMutablePointer<Float>) where V.Scalar == Float {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: V.self)
}

@inline(__always) func load8(_ p: UnsafePointer<Float>) -> Vec8 { loadVector(p) }
@inline(__always) func load16(_ p: UnsafePointer<Float>) -> Vec16 { loadVector(p) }
@inline(__always) func store8(_ v: Vec8, _ p: UnsafeMutablePointer<Float>) { store(v, p) }
@inline(__always) func store16(_ v: Vec16, _ p: UnsafeMutablePointer<Float>) { store(v, p) }

/// The largest lane (`SIMD.max()` is a generic call that does not inline into the row loop).
@inline(__always)
func horizontalMax(_ v: Vec8) -> Float {
    let four = v.lowHalf.replacing(with: v.highHalf, where: v.highHalf .> v.lowHalf)
    let two = four.lowHalf.replacing(with: four.highHalf, where: four.highHalf .> four.lowHalf)
    return max(two[0], two[1])
}

/// Lane-wise maximum without `pointwiseMax`'s NaN handling (which defeats vectorisation).
@inline(__always)
func pointwiseMaxFast(_ a: Vec8, _ b: Vec8) -> Vec8 {
    a.replacing(with: b, where: b .> a)
}

/// The largest of `row[0..<count]` (-∞ when empty).
@inline(__always)
func rowMax(_ row: UnsafePointer<Float>, count: Int) -> Float {
    let n8 = count & ~7
    var maxv = -Float.infinity
    var i = 0
    if n8 > 0 {
        var mv = load8(row)
        i = 8
        while i < n8 { mv = pointwiseMaxFast(mv, load8(row + i)); i &+= 8 }
        maxv = horizontalMax(mv)
    }
    while i < count { maxv = max(maxv, row[i]); i &+= 1 }
    return maxv
}
