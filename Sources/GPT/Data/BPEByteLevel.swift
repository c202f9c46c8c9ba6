/// GPT-2's byte-to-unicode table: every byte value gets a printable Unicode scalar so that a
/// byte-level token can be written as text in encoder.json / vocab.json and merges files.
///
/// Bytes that are already printable Latin-1 (`!`…`~`, `¡`…`¬`, `®`…`ÿ`) map to themselves; the
/// other 68 bytes map, in byte order, to U+0100, U+0101, … (so the space 0x20 becomes `Ġ`, U+0120).
public enum BPEByteLevel {
    /// `scalar[b]` is the Unicode scalar value standing for byte `b`.
    public static let scalarForByte: [UInt32] = {
        var table = [UInt32](repeating: 0, count: 256)
        var next: UInt32 = 256
        for b in 0..<256 {
            if isPrintableLatin1(b) {
                table[b] = UInt32(b)
            } else {
                table[b] = next
                next += 1
            }
        }
        return table
    }()

    /// The byte a scalar value stands for, or nil when the scalar is not in the table.
    /// Indexed by scalar value; the table's scalars are all below 0x144.
    private static let byteForScalarTable: [Int16] = {
        var table = [Int16](repeating: -1, count: 0x144)
        for b in 0..<256 { table[Int(scalarForByte[b])] = Int16(b) }
        return table
    }()

    /// The byte that `scalar` stands for, or nil when it is not one of the 256 byte symbols.
    @inline(__always)
    public static func byte(for scalar: UInt32) -> UInt8? {
        guard scalar < 0x144 else { return nil }
        let b = byteForScalarTable[Int(scalar)]
        return b < 0 ? nil : UInt8(b)
    }

    /// The UTF-8 bytes of the byte-level text for raw `bytes` (what a vocabulary file stores).
    public static func symbolText(for bytes: some Sequence<UInt8>) -> [UInt8] {
        var out: [UInt8] = []
        for b in bytes { appendUTF8(of: scalarForByte[Int(b)], to: &out) }
        return out
    }

    /// The raw bytes that byte-level text stands for, or nil if a scalar is not a byte symbol.
    public static func rawBytes(forSymbolText text: [UInt8]) -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(text.count)
        var i = 0
        while i < text.count {
            let (scalar, length) = BPEUTF8.decode(text, at: i)
            guard let b = byte(for: scalar) else { return nil }
            out.append(b)
            i += length
        }
        return out
    }

    private static func isPrintableLatin1(_ b: Int) -> Bool {
        (0x21...0x7E).contains(b) || (0xA1...0xAC).contains(b) || (0xAE...0xFF).contains(b)
    }

    /// Appends the UTF-8 encoding of a scalar value below 0x800 (all the table needs).
    @inline(__always)
    static func appendUTF8(of scalar: UInt32, to out: inout [UInt8]) {
        if scalar < 0x80 {
            out.append(UInt8(scalar))
        } else {
            out.append(UInt8(0xC0 | (scalar >> 6)))
            out.append(UInt8(0x80 | (scalar & 0x3F)))
        }
    }
}

/// Decoding of Unicode scalars from UTF-8 bytes that are known to be valid (they came from a
/// Swift `String`), without building `String`s.
enum BPEUTF8 {
    /// The scalar value starting at `i` and its length in bytes.
    @inline(__always)
    static func decode(_ bytes: UnsafeBufferPointer<UInt8>, at i: Int) -> (UInt32, Int) {
        let b0 = UInt32(bytes[i])
        if b0 < 0x80 { return (b0, 1) }
        if b0 < 0xE0 {
            return (((b0 & 0x1F) << 6) | (UInt32(bytes[i + 1]) & 0x3F), 2)
        }
        if b0 < 0xF0 {
            return (((b0 & 0x0F) << 12) | ((UInt32(bytes[i + 1]) & 0x3F) << 6)
                    | (UInt32(bytes[i + 2]) & 0x3F), 3)
        }
        return (((b0 & 0x07) << 18) | ((UInt32(bytes[i + 1]) & 0x3F) << 12)
                | ((UInt32(bytes[i + 2]) & 0x3F) << 6) | (UInt32(bytes[i + 3]) & 0x3F), 4)
    }

    static func decode(_ bytes: [UInt8], at i: Int) -> (UInt32, Int) {
        bytes.withUnsafeBufferPointer { decode($0, at: i) }
    }
}
