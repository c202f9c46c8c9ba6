/// Eight-lane versions of exp and erf accurate to a few float ulps, so the softmax, GELU and
/// cross-entropy kernels never call scalar libm in their inner loops.
typealias Vec8 = SIMD8<Float>

/// e^x (Cephes' expf polynomial after Cody–Waite range reduction); inputs clamped to
/// [-87.3, 88.3], the range where the result is a normal float.
@inline(__always)
func exp8(_ input: Vec8) -> Vec8 {
    var x = input
    x.replace(with: Vec8(repeating: 88.3), where: x .> 88.3)
    x.replace(with: Vec8(repeating: -87.3), where: x .< -87.3)
    let magic = Vec8(repeating: 12_582_912) // 1.5 * 2^23: adding it rounds to an integer
    let shifted = x * 1.442_695_04 + magic
    let n = shifted - magic
    var r = x - n * 0.693_359_375
    r = r - n * -2.121_944_4e-4
    var p = Vec8(repeating: 1.987_569_15e-4)
    p = p * r + 1.398_199_95e-3
    p = p * r + 8.333_451_9e-3
    p = p * r + 4.166_579_59e-2
    p = p * r + 1.666_666_55e-1
    p = p * r + 5.000_000_1e-1
    let y = p * (r * r) + r + 1
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
    var p = x2 * -2.726_142_258_013_06e-10 + 2.770_681_424_959_02e-08
    p = x2 * p + -2.101_024_020_825_08e-06
    p = x2 * p + -5.692_506_394_623_46e-05
    p = x2 * p + -7.349_906_303_268_55e-04
    p = x2 * p + -2.954_599_808_540_25e-03
    p = x2 * p + -1.609_603_332_624_15e-02
    p = x * p
    var q = x2 * -1.456_607_184_649_96e-05 + -2.133_740_552_789_05e-04
    q = x2 * q + -1.682_826_974_382_03e-03
    q = x2 * q + -7.373_329_167_204_68e-03
    q = x2 * q + -1.426_473_905_141_89e-02
    return p / q
}

/// Loads eight floats (no alignment required).
@inline(__always)
func load8(_ p: UnsafePointer<Float>) -> Vec8 {
    UnsafeRawPointer(p).loadUnaligned(as: Vec8.self)
}

/// Stores eight floats (no alignment required).
@inline(__always)
func store8(_ v: Vec8, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: Vec8.self)
}
