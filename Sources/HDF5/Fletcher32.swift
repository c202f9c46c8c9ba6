/// HDF5's Fletcher-32 checksum, bit for bit what its `H5Z_FILTER_FLETCHER32` filter appends to
/// each chunk, computed sixteen 16-bit words at a time.
///
/// HDF5 sums the data as big-endian 16-bit words (an odd last byte is the high byte of a last
/// word), starting both sums at 0 and folding them with end-around carries. Folding keeps each
/// sum's residue modulo 65,535 and keeps a sum that ever was positive positive, so the result is
/// 0 for all-zero data and otherwise each sum's residue with 0 written as 0xFFFF; that is what
/// the vector form computes (`sum2` is Σ (n − i)·wᵢ over the n words).
public enum Fletcher32 {
    /// Vectors of 16 words summed before the lanes are folded: the lanes of the running sum of
    /// sums stay below 256·255/2·65,535 < 2³².
    static let stepsPerBlock = 256

    /// The checksum of `bytes` as HDF5 computes it (0 for no bytes).
    public static func checksum(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        guard let base = bytes.baseAddress, !bytes.isEmpty else { return 0 }
        let words = bytes.count / 2
        var sum1: UInt64 = 0, sum2: UInt64 = 0  // residues modulo 65,535
        var seen: UInt16 = 0  // any bit of any word
        var index = 0  // in words
        let weights = SIMD16<UInt32>(16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1)
        while words - index >= 16 {
            let steps = min(stepsPerBlock, (words - index) / 16)
            var lanes = SIMD16<UInt32>(repeating: 0)  // per lane: Σ words
            var prefix = SIMD16<UInt32>(repeating: 0)  // per lane: Σ of `lanes` before each step
            var bits = SIMD16<UInt16>(repeating: 0)
            var pointer = base + 2 * index
            for _ in 0..<steps {
                let raw = pointer.loadUnaligned(as: SIMD16<UInt16>.self)
                bits |= raw
                prefix &+= lanes
                lanes &+= SIMD16<UInt32>(truncatingIfNeeded: (raw &<< 8) | (raw &>> 8))
                pointer += 32
            }
            let n = UInt64(16 * steps)
            let weighted = SIMD16<UInt64>(truncatingIfNeeded: lanes &* weights).wrappedSum()
            sum2 = (sum2 + n * sum1 + 16 * SIMD16<UInt64>(truncatingIfNeeded: prefix).wrappedSum() + weighted) % 65535
            sum1 = (sum1 + SIMD16<UInt64>(truncatingIfNeeded: lanes).wrappedSum()) % 65535
            for lane in 0..<16 { seen |= bits[lane] }  // once per block: cheap
            index += 16 * steps
        }
        let bytePointer = base.assumingMemoryBound(to: UInt8.self)
        func add(_ word: UInt16) {
            seen |= word
            sum1 += UInt64(word)
            sum2 += sum1
        }
        while index < words {
            add(UInt16(bytePointer[2 * index]) << 8 | UInt16(bytePointer[2 * index + 1]))
            index += 1
        }
        if bytes.count % 2 == 1 { add(UInt16(bytePointer[bytes.count - 1]) << 8) }
        guard seen != 0 else { return 0 }
        let low = sum1 % 65535, high = sum2 % 65535
        return UInt32(high == 0 ? 0xFFFF : high) << 16 | UInt32(low == 0 ? 0xFFFF : low)
    }

    /// The checksum HDF5 before 1.6.3 wrote on little-endian machines (the bytes of each half
    /// swapped), which its filter still accepts on reading.
    public static func legacyForm(_ checksum: UInt32) -> UInt32 {
        (checksum & 0x00FF_00FF) << 8 | (checksum >> 8) & 0x00FF_00FF
    }
}
