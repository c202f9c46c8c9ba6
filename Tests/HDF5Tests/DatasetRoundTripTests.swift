import HDF5
import XCTest

final class DatasetRoundTripTests: HDF5TestCase {
    private func roundTrip<T: HDF5Scalar & Equatable>(_ values: [T], shape: [Int],
                                                       file line: UInt = #line) throws {
        let name = "\(T.self)-\(shape.count)d.h5"
        do {
            let file = try H5File.create(at: path(name))
            let dataset = try file.createDataset("/data/values", values: values, shape: shape)
            XCTAssertEqual(try dataset.shape, shape, line: line)
            XCTAssertEqual(try dataset.elementType, T.hdf5ElementType, line: line)
            file.close()
        }
        let file = try H5File.open(at: path(name))
        let dataset = try file.dataset("data/values")
        XCTAssertEqual(try dataset.shape, shape, line: line)
        XCTAssertEqual(try dataset.elementCount, values.count, line: line)
        XCTAssertEqual(try dataset.elementType, T.hdf5ElementType, line: line)
        XCTAssertEqual(try dataset.read(as: T.self), values, line: line)

        var buffer = [T](repeating: values[0], count: values.count)
        try buffer.withUnsafeMutableBufferPointer { try dataset.read(into: $0) }
        XCTAssertEqual(buffer, values, line: line)
    }

    func testEveryElementTypeRoundTrips() throws {
        try roundTrip((0..<24).map { Float($0) * 0.5 - 3 }, shape: [2, 3, 4])
        try roundTrip((0..<12).map { Double($0) / 7 }, shape: [3, 4])
        try roundTrip((0..<10).map { Int32($0) * -1_000_003 }, shape: [10])
        try roundTrip((0..<10).map { UInt16($0 * 6_500) }, shape: [2, 5])
        try roundTrip((0..<10).map { UInt32($0) * 400_000_000 }, shape: [5, 2])
        try roundTrip((0..<6).map { Int64($0) * -(1 << 40) }, shape: [6])
        try roundTrip((0..<6).map { UInt8($0 * 40) }, shape: [6, 1])
        try roundTrip((0..<6).map { Int8($0 * -20) }, shape: [6])
        try roundTrip((0..<6).map { Int16($0 * -2000) }, shape: [3, 2])
        try roundTrip((0..<6).map { UInt64($0) << 60 }, shape: [6])
        try roundTrip([Float.pi], shape: [])
    }

    func testEmptyDatasetRoundTrips() throws {
        let file = try H5File.create(at: path("empty.h5"))
        let dataset = try file.createDataset("empty", values: [Float](), shape: [0, 4])
        XCTAssertEqual(try dataset.shape, [0, 4])
        XCTAssertEqual(try dataset.read(as: Float.self), [])
        let compressed = try file.createDataset("empty_deflated", values: [Int32](), deflateLevel: 6)
        XCTAssertEqual(try compressed.read(as: Int32.self), [])
        let growable = try file.createDataset("growable", of: Int32.self, shape: [0, 2], maxShape: [nil, 2], deflateLevel: 1)
        try growable.append([1, 2] as [Int32])
        XCTAssertEqual(try growable.read(as: Int32.self), [1, 2])
    }

    func testUInt16ReadsAsInt32WithLosslessConversion() throws {
        let tokens: [UInt16] = [0, 1, 50_256, 65_535, 7]
        let file = try H5File.create(at: path("tokens.h5"))
        let dataset = try file.createDataset("tokens", values: tokens)
        XCTAssertEqual(try dataset.read(as: Int32.self, conversion: .lossless), tokens.map { Int32($0) })
        XCTAssertEqual(try dataset.read(offset: 2, count: 2, as: Int32.self, conversion: .lossless), [50_256, 65_535])
        XCTAssertEqual(try dataset.read(as: Float.self, conversion: .lossless), tokens.map { Float($0) })
        var buffer = [Int64](repeating: -1, count: 3)
        try buffer.withUnsafeMutableBufferPointer {
            try dataset.read(offset: 1, count: 3, into: $0, conversion: .lossless)
        }
        XCTAssertEqual(buffer, [1, 50_256, 65_535])
    }

    func testNumericConversionClampsOnlyWhenAsked() throws {
        let file = try H5File.create(at: path("clamp.h5"))
        let dataset = try file.createDataset("values", values: [Int32(-5), 70_000, 12])
        XCTAssertThrowsError(try dataset.read(as: UInt16.self, conversion: .lossless))
        XCTAssertEqual(try dataset.read(as: UInt16.self, conversion: .numeric), [0, 65_535, 12])
    }

    func testStreamingAppendToUnlimitedDataset() throws {
        do {
            let file = try H5File.create(at: path("stream.h5"))
            let dataset = try file.createDataset("tokens", of: UInt16.self, shape: [0], maxShape: [nil])
            XCTAssertEqual(try dataset.maxShape, [nil])
            XCTAssertNotNil(try dataset.chunkShape)
            try dataset.append([1, 2, 3] as [UInt16])
            try dataset.append([4, 5] as [UInt16])
            let matrix = try file.createDataset("rows", of: Float.self, shape: [0, 3], maxShape: [nil, 3],
                                                chunks: [4, 3])
            try matrix.append([1, 2, 3, 4, 5, 6] as [Float])
            try matrix.append([7, 8, 9] as [Float])
            XCTAssertEqual(try matrix.chunkShape, [4, 3])
            try file.flush()
        }
        let file = try H5File.open(at: path("stream.h5"))
        XCTAssertEqual(try file.dataset("tokens").read(as: UInt16.self), [1, 2, 3, 4, 5])
        XCTAssertEqual(try file.dataset("rows").shape, [3, 3])
        XCTAssertEqual(try file.dataset("rows").read(as: Float.self), [1, 2, 3, 4, 5, 6, 7, 8, 9])
    }

    func testResizeAndCompressedDataset() throws {
        let file = try H5File.create(at: path("resize.h5"))
        let dataset = try file.createDataset("x", of: Int32.self, shape: [2, 2], maxShape: [4, 2], deflateLevel: 4)
        try dataset.write([1, 2, 3, 4] as [Int32])
        try dataset.resize(to: [3, 2])
        XCTAssertEqual(try dataset.read(as: Int32.self), [1, 2, 3, 4, 0, 0])
        XCTAssertThrowsError(try dataset.resize(to: [5, 2])) { error in
            guard case HDF5Error.outOfRange = error else { return XCTFail("\(error)") }
        }
    }
}
