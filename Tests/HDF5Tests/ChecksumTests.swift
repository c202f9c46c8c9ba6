import Foundation
import HDF5
import XCTest

/// Files created with `checksums`: every chunked-able dataset carries Fletcher-32, reads back as
/// written, and a flipped byte in its data fails the read with one error naming file and dataset.
final class ChecksumTests: HDF5TestCase {
    /// A float32 dataset of 0, 1, 2, ... (distinctive bytes to find in the file).
    func writeFile(_ name: String, checksums: Bool) throws -> String {
        let file = path(name)
        let h5 = try H5File.create(at: file, checksums: checksums)
        try h5.createDataset("values", values: (0..<1000).map { Float($0) }, shape: [10, 100])
        try h5.createGroup("g").createDataset("bytes", values: [UInt8](repeating: 7, count: 50))
        try h5.createDataset("empty", values: [Float](), shape: [0])
        h5.close()
        return file
    }

    func testChecksummedDatasetsReadBackAndPlainOnesStayPlain() throws {
        let file = try writeFile("sum.h5", checksums: true)
        let h5 = try H5File.open(at: file)
        XCTAssertTrue(try h5.dataset("values").isChecksummed)
        XCTAssertTrue(try h5.dataset("g/bytes").isChecksummed)
        XCTAssertFalse(try h5.dataset("empty").isChecksummed, "an always-empty dataset has no chunks to check")
        XCTAssertEqual(try h5.dataset("values").read(as: Float.self), (0..<1000).map { Float($0) })
        h5.close()
        let plain = try H5File.open(at: try writeFile("plain.h5", checksums: false))
        XCTAssertFalse(try plain.dataset("values").isChecksummed)
        XCTAssertNil(try plain.dataset("values").chunkShape, "without checksums small datasets stay contiguous")
    }

    func testFlippedByteFailsTheReadNamingFileAndDataset() throws {
        for checksums in [true, false] {
            let file = try writeFile("flip-\(checksums).h5", checksums: checksums)
            var bytes = try Data(contentsOf: URL(fileURLWithPath: file))
            // The little-endian bytes of 500.0, 501.0: in the middle of /values' data.
            let pattern = Data([Float(500), Float(501)].flatMap { withUnsafeBytes(of: $0.bitPattern.littleEndian, Array.init) })
            let at = try XCTUnwrap(bytes.range(of: pattern)).lowerBound
            bytes[at + 1] ^= 0x01
            try bytes.write(to: URL(fileURLWithPath: file))
            let h5 = try H5File.open(at: file)
            if checksums {
                let error = assertHDF5Error(try h5.dataset("values").read(as: Float.self))
                XCTAssertEqual(error?.description, "\(file): /values: read failed: data error detected by Fletcher32 checksum")
                XCTAssertEqual(try h5.dataset("g/bytes").read(as: UInt8.self).count, 50, "other datasets still read")
            } else {
                // Without the filter the damage goes unnoticed: that is what the checksum is for.
                XCTAssertNotEqual(try h5.dataset("values").read(as: Float.self)[500], 500)
            }
            h5.close()
        }
    }
}
