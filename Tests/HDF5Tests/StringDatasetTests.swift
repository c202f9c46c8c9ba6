import HDF5
import XCTest

final class StringDatasetTests: HDF5TestCase {
    func testStringDatasetRoundTrips() throws {
        do {
            let file = try H5File.create(at: path("strings.h5"))
            try file.createDataset("vocab/merges", strings: ["Ġ t", "h e", "", "ü ✓"], shape: [2, 2])
            try file.createDataset("empty", strings: [])
        }
        let file = try H5File.open(at: path("strings.h5"))
        let merges = try file.dataset("vocab/merges")
        XCTAssertEqual(try merges.elementType, .string)
        XCTAssertEqual(try merges.shape, [2, 2])
        XCTAssertEqual(try merges.readStrings(), ["Ġ t", "h e", "", "ü ✓"])
        XCTAssertEqual(try file.dataset("empty").readStrings(), [])
        let numeric = assertHDF5Error(try merges.read(as: Int32.self, conversion: .numeric))
        XCTAssertEqual(numeric, .wrongElementType(file: path("strings.h5"), object: "/vocab/merges",
                                                  expected: "a numeric type", found: "string"))
    }

    func testNumericDatasetIsNotStrings() throws {
        let file = try H5File.create(at: path("numbers.h5"))
        let dataset = try file.createDataset("x", values: [Float(1)])
        XCTAssertEqual(assertHDF5Error(try dataset.readStrings()),
                       .wrongElementType(file: path("numbers.h5"), object: "/x", expected: "string", found: "float32"))
        XCTAssertNotNil(assertHDF5Error(try file.createDataset("s", strings: ["a", "b"], shape: [3])))
        XCTAssertFalse(try file.exists("s"))
    }
}
