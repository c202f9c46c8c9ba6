import Foundation
import HDF5
import XCTest

/// Reads `Fixtures/h5py_written.h5`, written by h5py (`Fixtures/make_h5py_fixture.py`).
final class H5pyInteropTests: HDF5TestCase {
    private func fixture() throws -> H5File {
        let url = try XCTUnwrap(Bundle.module.url(forResource: "h5py_written", withExtension: "h5",
                                                  subdirectory: "Fixtures"))
        return try H5File.open(at: url)
    }

    func testStringAttributesOfEveryKind() throws {
        let file = try fixture()
        XCTAssertEqual(try file.attribute("name", as: String.self), "gpt-2 ✓")  // variable-length
        XCTAssertEqual(try file.attribute("ascii", as: String.self), "abc")     // fixed, ASCII
        XCTAssertEqual(try file.attribute("fixed_utf8", as: String.self), "héllo")
        XCTAssertEqual(try file.attribute("names", as: [String].self), ["a", "bc", "ü"])
        XCTAssertEqual(try file.attribute("fixed_names", as: [String].self), ["xy", "z"])
        XCTAssertEqual(try file.group("model").attribute("kind", as: String.self), "gpt")
    }

    func testNumberAndBooleanAttributes() throws {
        let file = try fixture()
        XCTAssertEqual(try file.attribute("n_layer", as: Int.self), 12)
        XCTAssertEqual(try file.attribute("small", as: Int.self), -7)
        XCTAssertEqual(try file.attribute("dropout", as: Double.self), 0.1)
        XCTAssertEqual(try file.attribute("half", as: Double.self), 0.5)
        XCTAssertEqual(try file.attribute("bias", as: Bool.self), true)
        XCTAssertEqual(try file.attributeValue("bias"), .bool(true))
        XCTAssertEqual(try file.attribute("shape", as: [Int].self), [1, 2, 3])
        XCTAssertEqual(try file.attribute("betas", as: [Double].self), [0.9, 0.95])
        XCTAssertEqual(try file.attribute("scales", as: [Float].self), [1.5, -2])
        XCTAssertEqual(try file.attributeNames(), ["ascii", "betas", "bias", "dropout", "fixed_names",
                                                   "fixed_utf8", "half", "n_layer", "name", "names",
                                                   "scales", "shape", "small"])
        XCTAssertEqual(try file.attributeValue("name"), .string("gpt-2 ✓"))
        let wrong = assertHDF5Error(try file.attribute("name", as: Int.self))
        XCTAssertEqual(wrong?.description.hasSuffix("/ attribute 'name': element type is string, expected an integer"), true,
                       wrong?.description ?? "")
    }

    func testDatasetsAndHardLink() throws {
        let file = try fixture()
        XCTAssertEqual(try file.childNames(), ["fixed_words", "int32", "model", "stream", "tokens", "words"])
        let tokens = try file.dataset("tokens")
        XCTAssertEqual(try tokens.elementType, .uint16)
        XCTAssertEqual(try tokens.read(as: UInt16.self), [0, 1, 50_256, 65_535, 7])
        XCTAssertEqual(try tokens.read(offset: 2, count: 3, as: Int32.self, conversion: .lossless), [50_256, 65_535, 7])
        XCTAssertEqual(try file.dataset("int32").read(start: [1, 1], count: [1, 2], as: Int32.self), [1, 2])
        let weight = try file.dataset("model/transformer.wte.weight")
        XCTAssertEqual(try weight.shape, [4, 3])
        XCTAssertEqual(try weight.read(as: Float.self), (0..<12).map { Float($0) })
        XCTAssertTrue(try file.isSameObject("model/lm_head.weight", "model/transformer.wte.weight"))
        XCTAssertEqual(try file.dataset("words").readStrings(), ["Ġthe", "ü", ""])
        XCTAssertEqual(try file.dataset("fixed_words").readStrings(), ["ab", "c"])
        let stream = try file.dataset("stream")
        XCTAssertEqual(try stream.maxShape, [nil])
        XCTAssertEqual(try stream.chunkShape, [4])
        XCTAssertEqual(try stream.read(offset: 8, count: 2, as: UInt32.self), [8, 9])
    }

    func testBoolAttributeRoundTripsInH5pyFormat() throws {
        let file = try H5File.create(at: path("bool.h5"))
        try file.setAttribute("bias", false)
        try file.setAttribute("flag", true)
        XCTAssertEqual(try file.attribute("bias", as: Bool.self), false)
        XCTAssertEqual(try file.attributeValue("flag"), .bool(true))
        try file.setAttribute("one", 1)
        XCTAssertEqual(try file.attribute("one", as: Bool.self), true)
        XCTAssertNotNil(assertHDF5Error(try file.attribute("flag", as: String.self)))
    }
}
