/// Finds where bytes stop being well-formed UTF-8, so a bad input file can be named with the
/// offset of its first bad byte (Swift's own validating initialisers only say yes or no).
enum UTF8Validation {
    /// The offset of the first byte of the first ill-formed sequence in `bytes`, or nil when all of
    /// `bytes` is well-formed UTF-8 (Unicode 15, table 3-7: no overlongs, surrogates or values
    /// above U+10FFFF). A sequence cut off by the end of `bytes` counts as ill-formed.
    static func firstInvalidOffset(_ bytes: UnsafeBufferPointer<UInt8>) -> Int? {
        let n = bytes.count
        var i = 0
        while i < n {
            let b0 = bytes[i]
            if b0 < 0x80 { i += 1; continue }
            guard let (length, low, high) = sequence(startingWith: b0) else { return i }
            if i + length > n { return i }
            let b1 = bytes[i + 1]
            if b1 < low || b1 > high { return i }
            for k in 2..<max(length, 2) where bytes[i + k] & 0xC0 != 0x80 { return i }
            i += length
        }
        return nil
    }

    /// The length of the sequence a non-ASCII lead byte starts and the allowed range of its
    /// second byte (Unicode 15, table 3-7), or nil for a byte that never starts a sequence.
    @inline(__always)
    static func sequence(startingWith b0: UInt8) -> (length: Int, low: UInt8, high: UInt8)? {
        switch b0 {
        case 0xC2...0xDF: return (2, 0x80, 0xBF)
        case 0xE0: return (3, 0xA0, 0xBF)
        case 0xE1...0xEC, 0xEE...0xEF: return (3, 0x80, 0xBF)
        case 0xED: return (3, 0x80, 0x9F)
        case 0xF0: return (4, 0x90, 0xBF)
        case 0xF1...0xF3: return (4, 0x80, 0xBF)
        case 0xF4: return (4, 0x80, 0x8F)
        default: return nil
        }
    }

    static func firstInvalidOffset(_ bytes: [UInt8]) -> Int? {
        bytes.withUnsafeBufferPointer { firstInvalidOffset($0) }
    }
}
