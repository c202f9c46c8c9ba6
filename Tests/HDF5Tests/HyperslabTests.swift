import HDF5
import XCTest

final class HyperslabTests: HDF5TestCase {
    /// A 4 x 5 x 6 Float32 dataset whose value at (i, j, k) is i*100 + j*10 + k.
    private func makeCube() throws -> (H5File, H5Dataset, [Float]) {
        var values: [Float] = []
        for i in 0..<4 { for j in 0..<5 { for k in 0..<6 { values.append(Float(i * 100 + j * 10 + k)) } } }
        let file = try H5File.create(at: path("cube.h5"))
        let dataset = try file.createDataset("cube", values: values, shape: [4, 5, 6])
        return (file, dataset, values)
    }

    func testOneDimensionalRangeEqualsSliceOfFullArray() throws {
        let values = (0..<1000).map { UInt16($0 * 3 % 50_000) }
        let file = try H5File.create(at: path("line.h5"))
        let dataset = try file.createDataset("tokens", values: values)
        let full = try dataset.read(as: UInt16.self)
        for (offset, count) in [(0, 1), (0, 1000), (17, 250), (999, 1), (500, 0)] {
            XCTAssertEqual(try dataset.read(offset: offset, count: count, as: UInt16.self),
                           Array(full[offset..<(offset + count)]), "offset \(offset) count \(count)")
        }
    }

    func testBlockEqualsSliceOfFullArray() throws {
        let (_, dataset, values) = try makeCube()
        let block = try dataset.read(start: [1, 2, 3], count: [2, 3, 2], as: Float.self)
        var expected: [Float] = []
        for i in 1..<3 { for j in 2..<5 { for k in 3..<5 { expected.append(values[i * 30 + j * 6 + k]) } } }
        XCTAssertEqual(block, expected)
        XCTAssertEqual(block.first, 123)

        var buffer = [Float](repeating: 0, count: 6)
        try buffer.withUnsafeMutableBufferPointer { try dataset.read(start: [3, 4, 0], count: [1, 1, 6], into: $0) }
        XCTAssertEqual(buffer, [340, 341, 342, 343, 344, 345])
    }

    func testRowsOfMatrixAreWholeTrailingDimensions() throws {
        let (_, dataset, values) = try makeCube()
        XCTAssertEqual(try dataset.read(offset: 2, count: 1, as: Float.self), Array(values[60..<90]))
    }

    func testHyperslabWritesOnlyTheBlock() throws {
        let file = try H5File.create(at: path("write.h5"))
        let dataset = try file.createDataset("m", of: Int32.self, shape: [3, 4])
        try dataset.write([1, 2, 3, 4] as [Int32], start: [1, 1], count: [2, 2])
        try dataset.write([9, 9, 9, 9] as [Int32], offset: 0)
        XCTAssertEqual(try dataset.read(as: Int32.self), [9, 9, 9, 9,
                                                          0, 1, 2, 0,
                                                          0, 3, 4, 0])
    }

    func testOutOfRangeHyperslabIsAClearError() throws {
        let (_, dataset, _) = try makeCube()
        let cases: [() throws -> [Float]] = [
            { try dataset.read(start: [3, 0, 0], count: [2, 1, 1]) },
            { try dataset.read(start: [-1, 0, 0], count: [1, 1, 1]) },
            { try dataset.read(start: [0, 0, 0], count: [1, 1, 7]) },
            { try dataset.read(offset: 4, count: 1) },
            { try dataset.read(offset: 2, count: Int.max) },
        ]
        for read in cases {
            let error = assertHDF5Error(try read())
            guard case .outOfRange(let file, let object, let message)? = error else {
                XCTFail("expected outOfRange, got \(String(describing: error))")
                continue
            }
            XCTAssertEqual(file, path("cube.h5"))
            XCTAssertEqual(object, "/cube")
            XCTAssertTrue(error!.description.contains("cube.h5: /cube: hyperslab"), error!.description)
            XCTAssertTrue(message.contains("outside shape [4, 5, 6]"), message)
        }
    }

    func testRankAndBufferMismatchesAreShapeErrors() throws {
        let (_, dataset, _) = try makeCube()
        let rank = assertHDF5Error(try dataset.read(start: [0, 0], count: [1, 1], as: Float.self))
        guard case .shapeMismatch? = rank else { return XCTFail("\(String(describing: rank))") }
        var small = [Float](repeating: 0, count: 5)
        let buffer = assertHDF5Error(try small.withUnsafeMutableBufferPointer {
            try dataset.read(start: [0, 0, 0], count: [1, 1, 6], into: $0)
        })
        guard case .shapeMismatch(_, _, let message)? = buffer else { return XCTFail("\(String(describing: buffer))") }
        XCTAssertTrue(message.contains("room for 5 elements"), message)
        let write = assertHDF5Error(try dataset.write([Float](repeating: 0, count: 7)))
        guard case .shapeMismatch? = write else { return XCTFail("\(String(describing: write))") }
    }
}
