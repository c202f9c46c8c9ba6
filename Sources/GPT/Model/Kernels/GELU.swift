/// GELU with the exact erf form, `0.5 x (1 + erf(x / √2))` (PyTorch's default, nanoGPT's choice).
enum GELU {
    static func forward(out: FloatPointer, inp: UnsafePointer<Float>, count: Int, splitter: WorkSplitter) {
        let blocks = (count + 1023) / 1024
        splitter.run(blocks, costPerItem: 1024 * 16) { range, _ in
            let start = range.lowerBound * 1024, end = min(count, range.upperBound * 1024)
            var i = start
            let half = Vec8(repeating: 0.5), invSqrt2 = Vec8(repeating: 0.707_106_781_186_547_5)
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
