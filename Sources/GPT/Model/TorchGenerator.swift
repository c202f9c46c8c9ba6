import Foundation

/// PyTorch's CPU random number generator, number for number: `torch.manual_seed(s)` seeds a
/// 32-bit Mersenne Twister (MT19937) with `s`, and every CPU draw nanoGPT makes reads it in a fixed
/// way. Implemented here are the draws nanoGPT's model init and `get_batch` make:
/// `uniform_` (one 32-bit word per element), `normal_` (torch's `normal_fill`: uniforms, then
/// Box–Muller over blocks of 16) and `randint` (one word per element, modulo the range).
///
/// So a run seeded with nanoGPT's seed starts from nanoGPT's initial weights and reads its
/// batches. The state is 624 words and a position (`state`), saved in checkpoints so a resumed
/// run continues the same stream.
public struct TorchGenerator: Equatable, Sendable {
    private static let n = 624, m = 397
    private var words: [UInt32]
    /// Next word of `words` to temper; `n` means the block must be regenerated first.
    private var index: Int
    /// The cached second value of torch's scalar (double) Box–Muller draw.
    private var nextDoubleNormal: Double?

    /// `torch.manual_seed(seed)`: MT19937 seeded with the low 32 bits of `seed`.
    public init(seed: UInt64) {
        var w = [UInt32](repeating: 0, count: Self.n)
        w[0] = UInt32(truncatingIfNeeded: seed)
        for j in 1..<Self.n {
            w[j] = 1_812_433_253 &* (w[j - 1] ^ (w[j - 1] >> 30)) &+ UInt32(j)
        }
        words = w
        index = Self.n
    }

    /// Numbers in `state`.
    public static let stateCount = n + 2

    /// The state as 626 numbers: the 624 words, the position, and the cached normal's bits
    /// (or all ones when there is none, since a cached value is never a NaN).
    public var state: [UInt64] {
        words.map(UInt64.init) + [UInt64(index), nextDoubleNormal.map { $0.bitPattern } ?? UInt64.max]
    }

    /// Restores a generator from `state`.
    public init(state: [UInt64]) throws {
        guard state.count == Self.stateCount else {
            throw RandomGeneratorError(problem: "a data-stream state has \(Self.stateCount) numbers, got \(state.count)")
        }
        guard state[..<Self.n].allSatisfy({ $0 <= UInt64(UInt32.max) }), state[Self.n] <= UInt64(Self.n),
              state[..<Self.n].contains(where: { $0 != 0 }) else {
            throw RandomGeneratorError(problem: "the data-stream state is not a Mersenne Twister state")
        }
        words = state[..<Self.n].map { UInt32($0) }
        index = Int(state[Self.n])
        nextDoubleNormal = state[Self.n + 1] == UInt64.max ? nil : Double(bitPattern: state[Self.n + 1])
    }

    /// The next 32 random bits (torch's `generator->random()`).
    @inline(__always)
    public mutating func next32() -> UInt32 {
        if index >= Self.n { twist() }
        var y = words[index]
        index &+= 1
        y ^= y >> 11
        y ^= (y << 7) & 0x9D2C_5680
        y ^= (y << 15) & 0xEFC6_0000
        y ^= y >> 18
        return y
    }

    private mutating func twist() {
        let n = Self.n, m = Self.m
        words.withUnsafeMutableBufferPointer { w in
            for k in 0..<n {
                let y = (w[k] & 0x8000_0000) | (w[(k + 1) % n] & 0x7FFF_FFFF)
                w[k] = w[(k + m) % n] ^ (y >> 1) ^ ((y & 1) == 0 ? 0 : 0x9908_B0DF)
            }
        }
        index = 0
    }

    /// torch's `uniform_real_distribution<float>(0, 1)`: 24 random bits of one word.
    @inline(__always)
    public mutating func nextUniform() -> Float {
        Float(next32() & 0xFF_FFFF) * (1.0 / 16_777_216.0)
    }

    /// torch's `uniform_real_distribution<double>(0, 1)`: 53 bits of two words (first word high).
    @inline(__always)
    mutating func nextUniformDouble() -> Double {
        let high = UInt64(next32()), low = UInt64(next32())
        return Double(((high << 32) | low) & ((1 << 53) - 1)) * (1.0 / 9_007_199_254_740_992.0)
    }

    /// `torch.randint(range, (count,))`: `count` integers in `0..<range`, one word each (the
    /// word modulo `range`), as long as `range` fits in 32 bits; two words each beyond that.
    public mutating func randint(_ range: Int, count: Int) -> [Int] {
        var values = [Int](repeating: 0, count: count)
        values.withUnsafeMutableBufferPointer { randint(range, into: $0) }
        return values
    }

    /// `randint` into `values` (one draw per element, in order).
    public mutating func randint(_ range: Int, into values: UnsafeMutableBufferPointer<Int>) {
        precondition(range > 0)
        let r = UInt64(range)
        for i in values.indices {
            if r >= 1 << 32 {
                let high = UInt64(next32()), low = UInt64(next32())
                values[i] = Int(((high << 32) | low) % r)
            } else {
                values[i] = Int(UInt64(next32()) % r)
            }
        }
    }

    /// `tensor.uniform_(from, to)`: advances the stream as torch does for `count` elements.
    /// (Only the stream matters here: nanoGPT redraws every such tensor with `normal_`.)
    public mutating func skipUniform(count: Int) {
        for _ in 0..<count { _ = next32() }
    }

    /// `tensor.normal_(mean, std)` on a contiguous float tensor of `buffer.count` elements.
    ///
    /// torch's `normal_fill`: one uniform per element, then Box–Muller over each block of 16
    /// (element j with j + 8); when the count is not a multiple of 16 the last 16 elements are
    /// redrawn from 16 fresh uniforms. Tensors under 16 elements take torch's scalar path.
    /// (torch computes the block transform with AVX2 polynomials where the CPU has them; this is
    /// the portable C++ version, equal to them within a few units in the last place.)
    public mutating func fillNormal(_ buffer: UnsafeMutableBufferPointer<Float>, mean: Float, std: Float) {
        let count = buffer.count
        guard count >= 16 else {
            for i in 0..<count { buffer[i] = Float(nextNormalDouble() * Double(std) + Double(mean)) }
            return
        }
        for i in 0..<count { buffer[i] = nextUniform() }
        var i = 0
        while i + 16 <= count {
            Self.boxMuller16(buffer.baseAddress! + i, mean: mean, std: std)
            i += 16
        }
        if count % 16 != 0 {
            let tail = buffer.baseAddress! + count - 16
            for j in 0..<16 { tail[j] = nextUniform() }
            Self.boxMuller16(tail, mean: mean, std: std)
        }
    }

    /// torch's `normal_fill_16`, in its float arithmetic (the angle in double, then rounded).
    private static func boxMuller16(_ data: UnsafeMutablePointer<Float>, mean: Float, std: Float) {
        for j in 0..<8 {
            let u1: Float = 1 - data[j]
            let u2 = data[j + 8]
            let radius = (-2 * logf(u1)).squareRoot()
            let theta = Float(2.0 * Double.pi * Double(u2))
            data[j] = radius * cosf(theta) * std + mean
            data[j + 8] = radius * sinf(theta) * std + mean
        }
    }

    /// torch's scalar `normal_distribution<double>` (used for tensors under 16 elements): two
    /// uniforms give two normals, the second cached for the next call.
    private mutating func nextNormalDouble() -> Double {
        if let cached = nextDoubleNormal {
            nextDoubleNormal = nil
            return cached
        }
        let u1 = nextUniformDouble(), u2 = nextUniformDouble()
        let r = (-2.0 * Foundation.log1p(-u2)).squareRoot()
        let theta = 2.0 * Double.pi * u1
        nextDoubleNormal = r * Foundation.sin(theta)
        return r * Foundation.cos(theta)
    }
}
