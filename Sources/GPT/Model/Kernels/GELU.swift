/// GELU with the exact erf form, `0.5 x (1 + erf(x / √2))` (PyTorch's default, nanoGPT's choice).
enum GELU {
    /// `out = gelu(inp)`. With `derivative`, also writes gelu'(inp) there (it may be `inp`
    /// itself), so the backward pass is one multiply instead of another erf and exp.
    static func forward(out: FloatPointer, inp: UnsafePointer<Float>, derivative: FloatPointer? = nil,
                        count: Int, splitter: WorkSplitter) {
        let blocks = (count + 1023) / 1024
        splitter.run(blocks, costPerItem: 1024 * 16) { range, _ in
            let start = range.lowerBound * 1024, end = min(count, range.upperBound * 1024)
            var i = start
            let half = Vec8(repeating: 0.5), invSqrt2 = Vec8(repeating: 0.707_106_781_186_547_5)
            if let derivative {
                // Sixteen lanes a turn: one eight-lane chain (a division, the polynomial, exp)
                // is too long for the core to overlap with the next; two interleaved run ~20%
                // faster.
                while i &+ 16 <= end {
                    let x = load16(inp + i)
                    let (cdf, pdf) = normalCDFAndPDF(x)
                    store16(x * cdf, out + i)
                    store16(multiplyAdd(x, pdf, cdf), derivative + i)
                    i &+= 16
                }
                while i < end {
                    var v = Vec16.zero
                    v[0] = inp[i]
                    let (cdf, pdf) = normalCDFAndPDF(v)
                    out[i] = (v * cdf)[0]
                    derivative[i] = multiplyAdd(v, pdf, cdf)[0]
                    i &+= 1
                }
                return
            }
            while i &+ 8 <= end {
                let x = load8(inp + i)
                store8(half * x * (1 + erf8(x * invSqrt2)), out + i)
                i &+= 8
            }
            while i < end {
                var v = Vec8.zero
                v[0] = inp[i]
                out[i] = (half * v * (1 + erf8(v * invSqrt2)))[0]
                i &+= 1
            }
        }
    }

    /// `dinout *= derivative`: the gradient with respect to GELU's output becomes the gradient
    /// with respect to its input, given gelu' saved by `forward`.
    static func backward(dinout: FloatPointer, derivative: UnsafePointer<Float>, count: Int, splitter: WorkSplitter) {
        splitter.run(count, costPerItem: 2) { range, _ in
            var i = range.lowerBound
            while i &+ 8 <= range.upperBound {
                store8(load8(dinout + i) * load8(derivative + i), dinout + i)
                i &+= 8
            }
            while i < range.upperBound { dinout[i] *= derivative[i]; i &+= 1 }
        }
    }

    /// Φ(x) and φ(x) sharing one exponential: erf from Abramowitz & Stegun 7.1.26
    /// (|error| ≤ 1.5e-7), whose e^(-z²) with z = x/√2 is also the normal density's.
    @inline(__always)
    static func normalCDFAndPDF(_ x: Vec16) -> (Vec16, Vec16) {
        let z = x * 0.707_106_781_186_547_5
        let negative = z .< 0
        var a = z
        a.replace(with: -z, where: negative)
        let t = 1 / multiplyAdd(a, Vec16(repeating: 0.327_591_1), Vec16(repeating: 1))
        var poly = multiplyAdd(t, Vec16(repeating: 1.061_405_429), Vec16(repeating: -1.453_152_027))
        poly = multiplyAdd(poly, t, Vec16(repeating: 1.421_413_741))
        poly = multiplyAdd(poly, t, Vec16(repeating: -0.284_496_736))
        poly = multiplyAdd(poly, t, Vec16(repeating: 0.254_829_592))
        poly = poly * t
        let q = -(z * z)
        let e = Vec16(lowHalf: exp8(q.lowHalf), highHalf: exp8(q.highHalf))
        // Φ = (1 ± erf)/2 with erf = 1 - poly·e: Φ = 1 - poly·e/2 for z ≥ 0, poly·e/2 below.
        let tail = poly * e * 0.5
        var cdf = 1 - tail
        cdf.replace(with: tail, where: negative)
        return (cdf, e * 0.398_942_280_401_432_7)
    }
}
