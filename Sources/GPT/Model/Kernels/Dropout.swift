/// Inverted dropout whose mask is a pure function of (key, element index): a counter-based hash,
/// so the backward pass recomputes the mask instead of storing it, any thread split draws the
/// same mask, and a seed fixes every mask of a run.
struct DropoutMask {
    /// Identifies one dropout site in one forward pass.
    let key: UInt64
    /// An element is kept when its 24-bit hash is at least this.
    let threshold: UInt64
    /// 1 / (1 - p), the scale kept elements get.
    let scale: Float

    init(stepKey: UInt64, site: DropoutSite, probability: Double) {
        key = mix64(stepKey ^ (UInt64(site.number) &* 0xD6E8_FEB8_6659_FD93))
        threshold = UInt64((probability * 16_777_216).rounded())
        scale = Float(1 / (1 - probability))
    }

    /// The multiplier of element `index`: 0 when dropped, `scale` when kept.
    @inline(__always)
    func factor(_ index: Int) -> Float {
        (mix64(key &+ UInt64(truncatingIfNeeded: index)) >> 40) >= threshold ? scale : 0
    }

    /// `out[i] = a[i] + factor(base + i) * b[i]` for `count` elements (a and out may alias).
    func addMasked(out: FloatPointer, a: UnsafePointer<Float>, b: UnsafePointer<Float>, count: Int,
                   base: Int, splitter: WorkSplitter) {
        splitter.run(count, costPerItem: 8) { range, _ in
            for i in range { out[i] = a[i] + factor(base &+ i) * b[i] }
        }
    }

    /// `out[i] = factor(base + i) * inp[i]` (out and inp may alias).
    func apply(out: FloatPointer, inp: UnsafePointer<Float>, count: Int, base: Int = 0,
               splitter: WorkSplitter) {
        splitter.run(count, costPerItem: 8) { range, _ in
            for i in range { out[i] = factor(base &+ i) * inp[i] }
        }
    }
}
