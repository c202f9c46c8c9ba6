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
                while i &+ 8 <= end {
                    let x = load8(inp + i)
                    let cdf = half * (1 + erf8(x * invSqrt2))
                    let pdf = exp8(-0.5 * x * x) * 0.398_942_280_401_432_7
                    store8(x * cdf, out + i)
                    store8(cdf + x * pdf, derivative + i)
                    i &+= 8
                }
                while i < end {
                    var v = Vec8.zero
                    v[0] = inp[i]
                    out[i] = (half * v * (1 + erf8(v * invSqrt2)))[0]
                    derivative[i] = Self.derivative(v)[0]
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

    /// `dinout` holds the gradient with respect to GELU's output and becomes the gradient with
    /// respect to its input `inp`.
    static func backward(dinout: FloatPointer, inp: UnsafePointer<Float>, count: Int, splitter: WorkSplitter) {
        let blocks = (count + 1023) / 1024
        splitter.run(blocks, costPerItem: 1024 * 24) { range, _ in
            let start = range.lowerBound * 1024, end = min(count, range.upperBound * 1024)
            var i = start
            while i &+ 8 <= end {
                store8(load8(dinout + i) * derivative(load8(inp + i)), dinout + i)
                i &+= 8
            }
            while i < end {
                var v = Vec8.zero
                v[0] = inp[i]
                dinout[i] *= derivative(v)[0]
                i &+= 1
            }
        }
    }

    /// d/dx GELU(x) = Φ(x) + x φ(x).
    @inline(__always)
    static func derivative(_ x: Vec8) -> Vec8 {
        let cdf = 0.5 * (1 + erf8(x * 0.707_106_781_186_547_5))
        let pdf = exp8(-0.5 * x * x) * 0.398_942_280_401_432_7
        return cdf + x * pdf
    }
}
