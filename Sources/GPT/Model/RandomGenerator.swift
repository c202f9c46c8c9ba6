import Foundation

/// A small, fast, seeded generator: xoshiro256** (Blackman & Vigna) whose 256-bit state is
/// expanded from a 64-bit seed with SplitMix64. Normals come from the Box–Muller transform.
///
/// The whole state is four 64-bit words (`state`), so a checkpoint can save it and a restored
/// run continues with exactly the same numbers.
public struct RandomGenerator: RandomNumberGenerator, Codable, Equatable, Hashable, Sendable {
    private var s0: UInt64, s1: UInt64, s2: UInt64, s3: UInt64

    /// The four state words, in order (never all zero); `init(state:)` restores them.
    public var state: [UInt64] { [s0, s1, s2, s3] }

    /// A generator whose state is SplitMix64 of `seed` (any seed, including 0, is fine).
    public init(seed: UInt64) {
        var s = seed
        s0 = splitMix64(&s)
        s1 = splitMix64(&s)
        s2 = splitMix64(&s)
        s3 = splitMix64(&s)
    }

    /// Restores a generator from four saved state words (as returned by `state`).
    public init(state: [UInt64]) throws {
        guard state.count == 4 else {
            throw RandomGeneratorError(problem: "state needs 4 words, got \(state.count)")
        }
        guard state.contains(where: { $0 != 0 }) else {
            throw RandomGeneratorError(problem: "state is all zero")
        }
        (s0, s1, s2, s3) = (state[0], state[1], state[2], state[3])
    }

    enum CodingKeys: String, CodingKey { case state }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        try self.init(state: c.decode([UInt64].self, forKey: .state))
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(state, forKey: .state)
    }

    /// The next 64 random bits.
    @inline(__always)
    public mutating func next() -> UInt64 {
        let result = rotl(s1 &* 5, 7) &* 9
        let t = s1 << 17
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        s2 ^= t
        s3 = rotl(s3, 45)
        return result
    }

    /// A uniform Float in [0, 1) with 24 random bits.
    @inline(__always)
    public mutating func nextUniform() -> Float {
        Float(next() >> 40) * (1.0 / 16_777_216.0)
    }

    /// A uniform Double in [0, 1) with 53 random bits.
    @inline(__always)
    public mutating func nextUniformDouble() -> Double {
        Double(next() >> 11) * (1.0 / 9_007_199_254_740_992.0)
    }

    /// Fills `buffer` with normal(mean, std) values, two per Box–Muller draw, computed in Double.
    public mutating func fillNormal(_ buffer: UnsafeMutableBufferPointer<Float>, mean: Float, std: Float) {
        var i = 0
        let n = buffer.count
        while i < n {
            // 1 - u is in (0, 1], so the log is finite.
            let u1 = 1.0 - nextUniformDouble()
            let u2 = nextUniformDouble()
            let radius = (-2.0 * Foundation.log(u1)).squareRoot()
            let angle = 2.0 * Double.pi * u2
            buffer[i] = mean + std * Float(radius * Foundation.cos(angle))
            if i + 1 < n { buffer[i + 1] = mean + std * Float(radius * Foundation.sin(angle)) }
            i += 2
        }
    }
}

/// A saved generator state that cannot be restored.
public struct RandomGeneratorError: Error, CustomStringConvertible, LocalizedError {
    public let problem: String
    public var description: String { "random generator: \(problem)" }
    public var errorDescription: String? { description }
}

@inline(__always)
private func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }

/// SplitMix64: advances `state` and returns a well-mixed 64-bit value.
@inline(__always)
func splitMix64(_ state: inout UInt64) -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    return mix64(state)
}

/// One SplitMix64 step from `value` without keeping state: the counter-based hash that the data
/// sampler and the per-micro-step seeds chain over their counters.
@inline(__always)
func splitMix64(of value: UInt64) -> UInt64 {
    mix64(value &+ 0x9E37_79B9_7F4A_7C15)
}

/// SplitMix64's finaliser: a bijective 64-bit mixer. Also the counter-based hash behind dropout
/// masks, so a mask can be recomputed in the backward pass instead of stored.
@inline(__always)
func mix64(_ value: UInt64) -> UInt64 {
    var z = value
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
}
