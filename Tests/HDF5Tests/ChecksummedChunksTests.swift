import Foundation
@testable import HDF5
import XCTest

/// ``Fletcher32`` and ``ChecksummedChunks`` against HDF5's own Fletcher-32 filter: the same
/// checksums, the same stored chunks, and a damaged chunk failing the read with HDF5's message.
final class ChecksummedChunksTests: HDF5TestCase {
    /// Bytes from a fixed linear congruential generator.
    func bytes(_ count: Int, seed: UInt64) -> [UInt8] {
        var state = seed
        return (0..<count).map { _ in
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return UInt8(truncatingIfNeeded: state >> 56)
        }
    }

    /// Byte counts and patterns: odd counts (the last byte alone), one vector block (8,192
    /// bytes) and more, all zeros (checksum 0) and all 0xFF (each sum a multiple of 65,535,
    /// which HDF5's folding leaves as 0xFFFF).
    var cases: [(String, [UInt8])] {
        [("one", [0x9C]), ("seven", bytes(7, seed: 1)), ("odd", bytes(1001, seed: 2)), ("even", bytes(4000, seed: 3)),
         ("block", bytes(8192, seed: 4)), ("blocks", bytes(40_003, seed: 5)), ("zeros", [UInt8](repeating: 0, count: 5000)),
         ("ones", [UInt8](repeating: 0xFF, count: 4096)), ("ones-odd", [UInt8](repeating: 0xFF, count: 131_071))]
    }

    func testChecksumEqualsWhatHDF5sFilterAppends() throws {
        let file = try H5File.create(at: path("filter.h5"), checksums: true)
        defer { file.close() }
        for (name, data) in cases {
            let dataset = try file.createDataset(name, values: data)  // one chunk, HDF5's filter
            let stored = try dataset.storedChunk(at: [0])
            XCTAssertEqual(stored.filterMask, 0, name)
            XCTAssertEqual(Array(stored.bytes.prefix(data.count)), data, name)
            let appended = stored.bytes.suffix(4).reversed().reduce(UInt32(0)) { $0 << 8 | UInt32($1) }  // little-endian
            let sum = data.withUnsafeBytes { Fletcher32.checksum($0) }
            XCTAssertEqual(sum, appended, "\(name): \(data.count) bytes")
        }
        XCTAssertEqual([UInt8](repeating: 0, count: 10).withUnsafeBytes { Fletcher32.checksum($0) }, 0)
        XCTAssertEqual([UInt8](repeating: 0xFF, count: 4096).withUnsafeBytes { Fletcher32.checksum($0) }, 0xFFFF_FFFF)
        XCTAssertEqual(Fletcher32.legacyForm(0x1234_5678), 0x3412_7856)
    }

    func testStoredChunksEqualHDF5sByteForByte() throws {
        let library = try H5File.create(at: path("library.h5"), checksums: true)
        let direct = try H5File.create(at: path("direct.h5"), checksums: true)
        let chunks = ChecksummedChunks()
        // 1000 rows of 300 floats: chunks of 873 rows, the second an edge chunk of 127.
        let floats = bytes(1000 * 300 * 4, seed: 6).withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        let byteRows = bytes(1001 * 3, seed: 7)  // [1001, 3] uint8: chunks of 3,003 bytes, odd
        for file in [library, direct] {
            let a = try file.createDataset("floats", of: Float.self, shape: [1000, 300])
            let b = try file.createDataset("g/bytes", of: UInt8.self, shape: [1001, 3])
            if file === library {
                try a.write(floats)
                try b.write(byteRows)
            } else {
                try floats.withUnsafeBufferPointer { try chunks.write($0, to: a) }
                try byteRows.withUnsafeBufferPointer { try chunks.write($0, to: b) }
            }
        }
        for name in ["floats", "g/bytes"] {
            let mine = try direct.dataset(name), theirs = try library.dataset(name)
            let rows = try XCTUnwrap(try mine.chunkShape)[0]
            XCTAssertEqual(try mine.chunkShape, try theirs.chunkShape)
            for row in stride(from: 0, to: try mine.shape[0], by: rows) {
                let offset = [row] + [Int](repeating: 0, count: try mine.rank - 1)
                let (bytes, mask) = try mine.storedChunk(at: offset)
                XCTAssertEqual(mask, 0)
                XCTAssertEqual(bytes, try theirs.storedChunk(at: offset).bytes, "\(name) chunk at row \(row)")
            }
        }
        library.close()
        direct.close()
        // Read back by HDF5 (which verifies each chunk with its filter) and by ChecksummedChunks.
        let file = try H5File.open(at: path("direct.h5"))
        defer { file.close() }
        XCTAssertEqual(try file.dataset("floats").read(as: Float.self).map(\.bitPattern), floats.map(\.bitPattern))
        XCTAssertEqual(try file.dataset("g/bytes").read(as: UInt8.self), byteRows)
        var back = [Float](repeating: 0, count: floats.count)
        try back.withUnsafeMutableBufferPointer { try chunks.read(try file.dataset("floats"), into: $0) }
        XCTAssertEqual(back.map(\.bitPattern), floats.map(\.bitPattern))
    }

    func testDamagedChunkFailsTheReadAsHDF5Does() throws {
        let file = path("damaged.h5")
        let h5 = try H5File.create(at: file, checksums: true)
        let values = (0..<1000).map { Float($0) }
        try values.withUnsafeBufferPointer { try ChecksummedChunks().write($0, to: h5.createDataset("values", of: Float.self, shape: [10, 100])) }
        h5.close()
        var data = try Data(contentsOf: URL(fileURLWithPath: file))
        let pattern = Data([Float(500), Float(501)].flatMap { withUnsafeBytes(of: $0.bitPattern.littleEndian, Array.init) })
        data[try XCTUnwrap(data.range(of: pattern)).lowerBound + 1] ^= 0x01
        try data.write(to: URL(fileURLWithPath: file))
        let damaged = try H5File.open(at: file)
        defer { damaged.close() }
        var back = [Float](repeating: 0, count: 1000)
        let expected = "\(file): /values: read failed: data error detected by Fletcher32 checksum"
        XCTAssertEqual(assertHDF5Error(try damaged.dataset("values").read(as: Float.self))?.description, expected)
        let error = assertHDF5Error(try back.withUnsafeMutableBufferPointer { try ChecksummedChunks().read(try damaged.dataset("values"), into: $0) })
        XCTAssertEqual(error?.description, expected)
    }

    func testDatasetsWithoutTheFilterGoThroughTheLibrary() throws {
        let file = try H5File.create(at: path("plain.h5"), checksums: false)
        defer { file.close() }
        let chunks = ChecksummedChunks()
        let plain = try file.createDataset("plain", of: Float.self, shape: [4, 5])
        let doubles = try file.createDataset("doubles", of: Double.self, shape: [6])
        try (0..<20).map(Float.init).withUnsafeBufferPointer { try chunks.write($0, to: plain) }
        try [1.5, 2.5, 3.5, 4.5, 5.5, 6.5].withUnsafeBufferPointer { try chunks.write($0, to: doubles) }
        XCTAssertEqual(try plain.read(as: Float.self), (0..<20).map(Float.init))
        var floats = [Float](repeating: 0, count: 6)
        try floats.withUnsafeMutableBufferPointer { try chunks.read(doubles, into: $0, conversion: .numeric) }
        XCTAssertEqual(floats, [1.5, 2.5, 3.5, 4.5, 5.5, 6.5])
    }
}
