import HDF5
import XCTest

final class AttributeTests: HDF5TestCase {
    func testEveryAttributeKindRoundTripsOnFileGroupAndDataset() throws {
        do {
            let file = try H5File.create(at: path("attrs.h5"))
            let group = try file.createGroup("model")
            let dataset = try group.createDataset("w", values: [Float(1)])
            for object in [file, group, dataset] as [H5Object] {
                try object.setAttribute("n_layer", 12)
                try object.setAttribute("dropout", 0.125)
                try object.setAttribute("name", "gpt2 ✓")
                try object.setAttribute("shape", [3, -4, 1 << 40])
                try object.setAttribute("betas", [0.9, 0.95])
                try object.setAttribute("scales", [Float(1.5), -2])
                try object.setAttribute("vocab", ["a", "", "ü"])
                try object.setAttribute("none", [Int]())
            }
        }
        let file = try H5File.open(at: path("attrs.h5"))
        for object in [file, try file.group("model"), try file.dataset("model/w")] as [H5Object] {
            XCTAssertEqual(try object.attribute("n_layer", as: Int.self), 12)
            XCTAssertEqual(try object.attribute("dropout", as: Double.self), 0.125)
            XCTAssertEqual(try object.attribute("name", as: String.self), "gpt2 ✓")
            XCTAssertEqual(try object.attribute("shape", as: [Int].self), [3, -4, 1 << 40])
            XCTAssertEqual(try object.attribute("betas", as: [Double].self), [0.9, 0.95])
            XCTAssertEqual(try object.attribute("scales", as: [Float].self), [1.5, -2])
            XCTAssertEqual(try object.attribute("vocab", as: [String].self), ["a", "", "ü"])
            XCTAssertEqual(try object.attribute("none", as: [Int].self), [])
            XCTAssertEqual(try object.attributeValue("scales"), .floats([1.5, -2]))
            XCTAssertEqual(try object.attributeNames(),
                           ["betas", "dropout", "n_layer", "name", "none", "scales", "shape", "vocab"])
            XCTAssertTrue(try object.hasAttribute("name"))
            XCTAssertFalse(try object.hasAttribute("nope"))
        }
    }

    func testOverwriteReplacesValueAndType() throws {
        let file = try H5File.create(at: path("over.h5"))
        try file.setAttribute("step", 1)
        try file.setAttribute("step", 2)
        XCTAssertEqual(try file.attribute("step", as: Int.self), 2)
        try file.setAttribute("step", "done")
        XCTAssertEqual(try file.attribute("step", as: String.self), "done")
        try file.deleteAttribute("step")
        XCTAssertEqual(try file.attributeNames(), [])
    }

    func testAttributesLargerThan64KiB() throws {
        do {
            let file = try H5File.create(at: path("large.h5"))
            try file.setAttribute("ids", Array(0..<20_000))
            try file.setAttribute("words", (0..<20_000).map { "w\($0)" })
        }
        let file = try H5File.open(at: path("large.h5"))
        XCTAssertEqual(try file.attribute("ids", as: [Int].self), Array(0..<20_000))
        XCTAssertEqual(try file.attribute("words", as: [String].self).last, "w19999")
    }

    func testWideningReadsAreAllowed() throws {
        let file = try H5File.create(at: path("widen.h5"))
        try file.setAttribute("n", 3)
        XCTAssertEqual(try file.attribute("n", as: Double.self), 3)
        XCTAssertEqual(try file.attribute("n", as: [Int].self), [3])
        try file.setAttribute("one", [7])
        XCTAssertEqual(try file.attribute("one", as: Int.self), 7)
    }

    func testWrongKindAndMissingAttributeAreClearErrors() throws {
        let file = try H5File.create(at: path("kinds.h5"))
        let group = try file.createGroup("config")
        try group.setAttribute("lr", 0.5)
        let wrong = assertHDF5Error(try group.attribute("lr", as: Int.self))
        guard case .wrongElementType(_, let object, _, let found)? = wrong else {
            return XCTFail("\(String(describing: wrong))")
        }
        XCTAssertEqual(object, "/config attribute 'lr'")
        XCTAssertEqual(found, "float64")
        XCTAssertEqual(wrong?.description, "\(path("kinds.h5")): /config attribute 'lr': element type is float64, expected an integer")

        let missing = assertHDF5Error(try group.attribute("n_head", as: Int.self))
        XCTAssertEqual(missing, .attributeNotFound(file: path("kinds.h5"), object: "/config", name: "n_head"))
        XCTAssertEqual(missing?.description, "\(path("kinds.h5")): /config: no attribute 'n_head'")
    }

    func testWritingToReadOnlyFileFails() throws {
        try H5File.create(at: path("ro.h5")).close()
        let file = try H5File.open(at: path("ro.h5"))
        let error = assertHDF5Error(try file.setAttribute("x", 1))
        guard case .writeFailed(_, _, let reason)? = error else { return XCTFail("\(String(describing: error))") }
        XCTAssertEqual(reason, "file is open read-only")
    }
}
