@testable import Parallel
import XCTest

/// bfloat16 conversions of the ring collectives: round to nearest, ties to even, as PyTorch's
/// `tensor.to(torch.bfloat16)`.
final class WireFormatTests: XCTestCase {
    func testRoundsToNearestEven() {
        XCTAssertEqual(BFloat16.bits(1.0), 0x3F80)
        XCTAssertEqual(BFloat16.bits(-2.0), 0xC000)
        // 1 + 2^-8 lies halfway between 1 and 1 + 2^-7: the even neighbour (1) wins.
        XCTAssertEqual(BFloat16.bits(1 + 0x1p-8), 0x3F80)
        // 1 + 3·2^-8 lies halfway between 1 + 2^-7 (odd) and 1 + 2^-6 (even).
        XCTAssertEqual(BFloat16.bits(1 + 3 * 0x1p-8), 0x3F82)
        // Just above halfway rounds up.
        XCTAssertEqual(BFloat16.bits(1 + 0x1p-8 + 0x1p-20), 0x3F81)
        XCTAssertEqual(BFloat16.value(0x3F81), 1 + 0x1p-7)
        XCTAssertTrue(BFloat16.value(BFloat16.bits(.nan)).isNaN)
        XCTAssertEqual(BFloat16.value(BFloat16.bits(.infinity)), .infinity)
        // The largest finite float rounds up to infinity, as in PyTorch.
        XCTAssertEqual(BFloat16.value(BFloat16.bits(.greatestFiniteMagnitude)), .infinity)
    }

    func testVectorPathsMatchTheScalarOnes() {
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        var values = (0..<1003).map { _ -> Float in
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Float(bitPattern: UInt32(truncatingIfNeeded: state >> 32))
        }
        values[5] = .nan
        values[17] = -.infinity
        var encoded = [UInt16](repeating: 0, count: values.count)
        values.withUnsafeBufferPointer { v in
            encoded.withUnsafeMutableBufferPointer { BFloat16.encode(v.baseAddress!, into: $0.baseAddress!, count: v.count) }
        }
        for (value, bits) in zip(values, encoded) {
            if value.isNaN { XCTAssertTrue(BFloat16.value(bits).isNaN) } else { XCTAssertEqual(bits, BFloat16.bits(value)) }
        }
        var sums = (0..<encoded.count).map { Float($0) }
        encoded.withUnsafeBufferPointer { e in
            sums.withUnsafeMutableBufferPointer { BFloat16.decode(e.baseAddress!, into: $0.baseAddress!, count: e.count, adding: true) }
        }
        for i in sums.indices where !values[i].isNaN {
            let expected = Float(i) + BFloat16.value(encoded[i])
            XCTAssertTrue(sums[i] == expected || (sums[i].isNaN && expected.isNaN), "element \(i)")
        }
    }
}
