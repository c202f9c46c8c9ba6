import HDF5
import XCTest

final class GroupAndLinkTests: HDF5TestCase {
    func testCreateOpenListAndDelete() throws {
        let file = try H5File.create(at: path("groups.h5"))
        let deep = try file.createGroup("a/b/c")
        XCTAssertEqual(deep.path, "/a/b/c")
        try file.createGroup("z")
        try file.createDataset("a/values", values: [Int32(1), 2])
        try deep.createDataset("leaf", values: [Float(3)])

        XCTAssertTrue(try file.exists("a/b/c/leaf"))
        XCTAssertTrue(try file.exists("/a/b"))
        XCTAssertTrue(try file.exists("/"))
        XCTAssertFalse(try file.exists("a/missing/c"))
        XCTAssertFalse(try file.exists("nothing"))
        XCTAssertEqual(try file.kind(of: "a/b"), .group)
        XCTAssertEqual(try file.kind(of: "a/values"), .dataset)
        XCTAssertNil(try file.kind(of: "a/nope"))

        XCTAssertEqual(try file.childNames(), ["a", "z"])
        let a = try file.group("a")
        XCTAssertEqual(try a.childNames(), ["b", "values"])
        XCTAssertEqual(try a.group("b").childNames(), ["c"])
        XCTAssertEqual(try a.dataset("b/c/leaf").path, "/a/b/c/leaf")

        try file.deleteLink("z")
        XCTAssertEqual(try file.childNames(), ["a"])
        let existing = assertHDF5Error(try file.createGroup("a/b"))
        XCTAssertEqual(existing, .objectExists(file: path("groups.h5"), object: "/a/b"))
        XCTAssertEqual(try file.openOrCreateGroup("a/b").path, "/a/b")
        XCTAssertEqual(try file.openOrCreateGroup("new/g").path, "/new/g")
    }

    func testHardLinkSharesDataAndIsTheSameObject() throws {
        do {
            let file = try H5File.create(at: path("tied.h5"))
            try file.createDataset("/model/transformer.wte.weight", of: Float.self, shape: [4, 2])
            try file.createDataset("/model/transformer.wpe.weight", values: [Float](repeating: 1, count: 8),
                                   shape: [4, 2])
            try file.link(target: "/model/transformer.wte.weight", as: "/model/lm_head.weight")
            // Written through the new name, read through the old one.
            try file.dataset("/model/lm_head.weight").write((0..<8).map { Float($0) })
        }
        let file = try H5File.open(at: path("tied.h5"))
        XCTAssertEqual(try file.dataset("model/transformer.wte.weight").read(as: Float.self), (0..<8).map { Float($0) })
        XCTAssertTrue(try file.isSameObject("/model/lm_head.weight", "model/transformer.wte.weight"))
        XCTAssertFalse(try file.isSameObject("/model/lm_head.weight", "/model/transformer.wpe.weight"))
        XCTAssertEqual(try file.linkCount("/model/lm_head.weight"), 2)
        XCTAssertEqual(try file.linkCount("/model/transformer.wpe.weight"), 1)
        XCTAssertEqual(try file.group("model").childNames(),
                       ["lm_head.weight", "transformer.wpe.weight", "transformer.wte.weight"])
        let missing = assertHDF5Error(try file.isSameObject("/model/lm_head.weight", "/model/nope"))
        XCTAssertEqual(missing, .objectNotFound(file: path("tied.h5"), object: "/model/nope"))
    }

    func testLinkToMissingTargetAndOverExistingName() throws {
        let file = try H5File.create(at: path("links.h5"))
        try file.createDataset("x", values: [Int32(1)])
        XCTAssertEqual(assertHDF5Error(try file.link(target: "nope", as: "y")),
                       .objectNotFound(file: path("links.h5"), object: "/nope"))
        XCTAssertEqual(assertHDF5Error(try file.link(target: "x", as: "x")),
                       .objectExists(file: path("links.h5"), object: "/x"))
    }

    func testClosingTheFileClosesItsObjects() throws {
        let file = try H5File.create(at: path("close.h5"))
        let dataset = try file.createDataset("x", values: [Int32(1)])
        XCTAssertTrue(dataset.isOpen)
        file.close()
        XCTAssertFalse(dataset.isOpen)
        XCTAssertEqual(assertHDF5Error(try dataset.read(as: Int32.self)),
                       .closed(file: path("close.h5"), object: "/x"))
        // The file is really closed: it can be opened for writing again.
        let again = try H5File.open(at: path("close.h5"), mode: .readWrite)
        XCTAssertEqual(try again.dataset("x").read(as: Int32.self), [1])
    }

    func testDatasetOutlivesItsFileVariable() throws {
        try H5File.create(at: path("life.h5")).createDataset("x", values: [UInt32(7), 8])
        let dataset = try H5File.open(at: path("life.h5")).dataset("x")
        XCTAssertEqual(try dataset.read(as: UInt32.self), [7, 8])
        XCTAssertEqual(dataset.file.filePath, path("life.h5"))
    }

    func testEveryHandleIsClosedWhenObjectsAreReleased() throws {
        let before = HDF5Library.openObjectCount
        do {
            let file = try H5File.create(at: path("leak.h5"))
            let group = try file.createGroup("g")
            let dataset = try group.createDataset("d", values: [Int32(1), 2, 3, 4], shape: [2, 2])
            try dataset.setAttribute("s", ["a", "b"])
            try file.setAttribute("b", true)
            _ = try dataset.attributeValue("s")
            _ = try file.attribute("b", as: Bool.self)
            _ = try dataset.read(start: [1, 0], count: [1, 2], as: Int64.self, conversion: .lossless)
            _ = try file.datasetPaths()
            _ = try? file.dataset("g/missing")
            _ = try? dataset.read(start: [5, 0], count: [1, 1], as: Int32.self)
            try file.createDataset("strings", strings: ["x"])
            _ = try file.dataset("strings").readStrings()
            XCTAssertGreaterThan(HDF5Library.openObjectCount, before)
        }
        XCTAssertEqual(HDF5Library.openObjectCount, before)
        do {
            let file = try H5File.open(at: path("leak.h5"))
            _ = try file.dataset("g/d").read(as: Int32.self)
            _ = try file.group("g").attributeNames()
        }
        XCTAssertEqual(HDF5Library.openObjectCount, before)
    }

    func testLibraryVersion() {
        XCTAssertTrue(HDF5Library.version.hasPrefix("1."), HDF5Library.version)
        XCTAssertEqual(HDF5Library.version.split(separator: ".").count, 3)
    }
}
