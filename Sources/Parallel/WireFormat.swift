/// How a ring collective carries Float32 values on the wire.
public enum WireFormat: String, CaseIterable, Sendable {
    /// Four bytes per value, exact.
    case float32
    /// Two bytes per value: bfloat16 (the upper half of a Float32, rounded to nearest even), as
    /// PyTorch DDP's `bf16_compress_hook` sends them. A reduction adds what arrives in Float32.
    case bfloat16

    /// Bytes per value on the wire.
    public var byteCount: Int { self == .float32 ? 4 : 2 }
}

/// Float32 ↔ bfloat16 conversions of the ring collectives.
enum BFloat16 {
    /// `value` rounded to the nearest bfloat16 (ties to even; NaN stays NaN), as its 16 bits.
    @inline(__always)
    static func bits(_ value: Float) -> UInt16 {
        let b = value.bitPattern
        if value.isNaN { return UInt16(truncatingIfNeeded: (b >> 16) | 0x40) }
        return UInt16(truncatingIfNeeded: (b &+ 0x7FFF &+ ((b >> 16) & 1)) >> 16)
    }

    /// The Float32 that a bfloat16 stands for (exact).
    @inline(__always)
    static func value(_ bits: UInt16) -> Float { Float(bitPattern: UInt32(bits) << 16) }

    /// Writes `count` values of `source` as bfloat16 to `target`.
    static func encode(_ source: UnsafePointer<Float>, into target: UnsafeMutablePointer<UInt16>, count: Int) {
        var i = 0
        while i &+ 8 <= count {
            let raw = UnsafeRawPointer(source + i).loadUnaligned(as: SIMD8<UInt32>.self)
            let odd = (raw &>> 16) & 1
            var rounded = (raw &+ 0x7FFF &+ odd) &>> 16
            // NaNs (exponent all ones, mantissa non-zero) keep a quiet-NaN pattern.
            let nan = (raw & 0x7FFF_FFFF) .> 0x7F80_0000
            rounded.replace(with: (raw &>> 16) | 0x40, where: nan)
            UnsafeMutableRawPointer(target + i).storeBytes(of: SIMD8<UInt16>(truncatingIfNeeded: rounded),
                                                           as: SIMD8<UInt16>.self)
            i &+= 8
        }
        while i < count { target[i] = bits(source[i]); i &+= 1 }
    }

    /// Rounds `count` values in place to bfloat16 precision (what a bfloat16 wire would deliver).
    static func round(_ values: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0..<count { values[i] = value(bits(values[i])) }
    }

    /// `target[i] += value(source[i])` (a reduction step), or `target[i] = value(source[i])`.
    static func decode(_ source: UnsafePointer<UInt16>, into target: UnsafeMutablePointer<Float>, count: Int,
                       adding: Bool) {
        var i = 0
        while i &+ 8 <= count {
            let raw = UnsafeRawPointer(source + i).loadUnaligned(as: SIMD8<UInt16>.self)
            let wide = SIMD8<UInt32>(truncatingIfNeeded: raw) &<< 16
            let v = unsafeBitCast(wide, to: SIMD8<Float>.self)
            let out = UnsafeMutableRawPointer(target + i)
            out.storeBytes(of: adding ? out.loadUnaligned(as: SIMD8<Float>.self) + v : v, as: SIMD8<Float>.self)
            i &+= 8
        }
        while i < count { target[i] = adding ? target[i] + value(source[i]) : value(source[i]); i &+= 1 }
    }

    /// `target[i] += source[i]` in Float32.
    static func add(_ source: UnsafePointer<Float>, into target: UnsafeMutablePointer<Float>, count: Int) {
        var i = 0
        while i &+ 8 <= count {
            let out = UnsafeMutableRawPointer(target + i)
            out.storeBytes(of: out.loadUnaligned(as: SIMD8<Float>.self)
                           + UnsafeRawPointer(source + i).loadUnaligned(as: SIMD8<Float>.self), as: SIMD8<Float>.self)
            i &+= 8
        }
        while i < count { target[i] += source[i]; i &+= 1 }
    }
}
