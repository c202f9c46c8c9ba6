import HDF5
import XCTest

final class ErrorTests: HDF5TestCase {
    func testMissingFile() throws {
        let missing = path("missing.h5")
        let error = assertHDF5Error(try H5File.open(at: missing))
        XCTAssertEqual(error, .fileNotFound(file: missing))
        XCTAssertEqual(error?.description, "\(missing): no such file")
        XCTAssertEqual(error?.localizedDescription, "\(missing): no such file")
    }

    func testFileThatIsNotHDF5() throws {
        let text = path("notes.h5")
        try "these are not the bytes you are looking for\n".write(toFile: text, atomically: true, encoding: .utf8)
        let error = assertHDF5Error(try H5File.open(at: text))
        XCTAssertEqual(error, .notHDF5File(file: text))
        XCTAssertEqual(error?.description, "\(text): is not an HDF5 file")
        let empty = path("empty.h5")
        XCTAssertTrue(FileManager.default.createFile(atPath: empty, contents: Data()))
        XCTAssertEqual(assertHDF5Error(try H5File.open(at: empty)), .notHDF5File(file: empty))
    }

    func testCreateFailIfExists() throws {
        let existing = path("exists.h5")
        try H5File.create(at: existing).close()
        let error = assertHDF5Error(try H5File.create(at: existing, mode: .failIfExists))
        XCTAssertEqual(error, .fileExists(file: existing))
        XCTAssertNoThrow(try H5File.create(at: path("fresh.h5"), mode: .failIfExists))
        let inMissingDirectory = path("no/such/dir/x.h5")
        let cannot = assertHDF5Error(try H5File.create(at: inMissingDirectory))
        guard case .cannotOpenFile(let file, _)? = cannot else { return XCTFail("\(String(describing: cannot))") }
        XCTAssertEqual(file, inMissingDirectory)
    }

    func testMissingDatasetNamesFileAndObject() throws {
        let file = try H5File.create(at: path("model.h5"))
        try file.createGroup("model")
        let error = assertHDF5Error(try file.dataset("model/transformer.h.0.attn.c_attn.weight"))
        XCTAssertEqual(error, .objectNotFound(file: path("model.h5"), object: "/model/transformer.h.0.attn.c_attn.weight"))
        XCTAssertEqual(error?.description, "\(path("model.h5")): /model/transformer.h.0.attn.c_attn.weight: no such object")
        let relative = assertHDF5Error(try file.group("model").dataset("x"))
        XCTAssertEqual(relative?.object, "/model/x")
    }

    func testWrongObjectType() throws {
        let file = try H5File.create(at: path("kinds.h5"))
        try file.createGroup("g")
        try file.createDataset("d", values: [Float(0)])
        XCTAssertEqual(assertHDF5Error(try file.dataset("g"))?.description,
                       "\(path("kinds.h5")): /g: is a group, expected a dataset")
        XCTAssertEqual(assertHDF5Error(try file.group("d")),
                       .wrongObjectType(file: path("kinds.h5"), object: "/d", expected: "group", found: "dataset"))
    }

    func testWrongElementTypeIsRejectedByDefault() throws {
        let file = try H5File.create(at: path("tokens.h5"))
        let dataset = try file.createDataset("tokens", values: [Float(1.5), 2])
        let error = assertHDF5Error(try dataset.read(as: UInt16.self))
        XCTAssertEqual(error, .wrongElementType(file: path("tokens.h5"), object: "/tokens",
                                                expected: "uint16", found: "float32"))
        XCTAssertEqual(error?.description, "\(path("tokens.h5")): /tokens: element type is float32, expected uint16")
        // A float is never a lossless stand-in for an integer either.
        XCTAssertNotNil(assertHDF5Error(try dataset.read(as: Int32.self, conversion: .lossless)))
        XCTAssertNotNil(assertHDF5Error(try dataset.requireElementType(UInt16.self)))
        XCTAssertNoThrow(try dataset.requireElementType(.float32))
        XCTAssertNotNil(assertHDF5Error(try dataset.write([Double(1), 2])))
        XCTAssertNoThrow(try dataset.write([Double(1), 2], conversion: .numeric))
        XCTAssertEqual(try dataset.read(as: Float.self), [1, 2])
        let shape = assertHDF5Error(try dataset.requireShape([2, 1]))
        XCTAssertEqual(shape?.description, "\(path("tokens.h5")): /tokens: shape is [2], expected [2, 1]")
    }

    func testBadCreateArguments() throws {
        let file = try H5File.create(at: path("args.h5"))
        guard case .invalidArgument? = assertHDF5Error(try file.createDataset("x", of: Float.self, shape: [-1]))
        else { return XCTFail() }
        guard case .shapeMismatch? = assertHDF5Error(
            try file.createDataset("x", of: Float.self, shape: [2], maxShape: [2, 2]))
        else { return XCTFail() }
        guard case .shapeMismatch? = assertHDF5Error(
            try file.createDataset("x", values: [Float(1), 2, 3], shape: [2]))
        else { return XCTFail() }
        // The failed create-and-write leaves nothing behind.
        XCTAssertFalse(try file.exists("x"))
        try file.createDataset("x", of: Float.self, shape: [1])
        XCTAssertEqual(assertHDF5Error(try file.createDataset("x", of: Float.self, shape: [1])),
                       .objectExists(file: path("args.h5"), object: "/x"))
    }

    func testReadOnlyDatasetWrite() throws {
        try H5File.create(at: path("ro.h5")).createDataset("x", values: [Int32(1)])
        let dataset = try H5File.open(at: path("ro.h5")).dataset("x")
        let error = assertHDF5Error(try dataset.write([Int32(2)]))
        XCTAssertEqual(error, .writeFailed(file: path("ro.h5"), object: "/x", reason: "file is open read-only"))
        let file = dataset.file
        XCTAssertEqual(assertHDF5Error(try file.createGroup("g")),
                       .writeFailed(file: path("ro.h5"), object: "/g", reason: "file is open read-only"))
        XCTAssertEqual(assertHDF5Error(try file.createDataset("y", values: [Float(1)])),
                       .writeFailed(file: path("ro.h5"), object: "/y", reason: "file is open read-only"))
        XCTAssertEqual(assertHDF5Error(try file.link(target: "x", as: "z"))?.description,
                       "\(path("ro.h5")): /z: write failed: file is open read-only")
        XCTAssertNotNil(assertHDF5Error(try file.deleteLink("x")))
        XCTAssertEqual(try file.dataset("x").read(as: Int32.self), [1])
    }
}
