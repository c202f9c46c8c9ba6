import Foundation
import SafeTensors
import XCTest

/// What the writer writes reads back exactly, in the layout the format prescribes.
final class SafeTensorsRoundTripTests: SafeTensorsTestCase {
    func testWrittenTensorsReadBackBitForBit() throws {
        let path = folder.appendingPathComponent("round.safetensors").path
        let a: [Float] = (0..<12).map { Float($0) * 0.37 - 2 }
        let b: [Float] = [.pi, -0.0, .infinity, .leastNonzeroMagnitude, .greatestFiniteMagnitude]
        let scalar: [Float] = [42]
        let writer = try SafeTensorsWriter(path: path, entries: [
            .init(name: "layer.a", shape: [3, 4]), .init(name: "b \"quoted\"", shape: [5]), .init(name: "s", shape: []),
            .init(name: "empty", shape: [0, 3]),
        ], metadata: ["format": "pt", "source": "gpt-dist"])
        try a.withUnsafeBufferPointer { try writer.write($0) }
        try b.withUnsafeBufferPointer { try writer.write($0) }
        try scalar.withUnsafeBufferPointer { try writer.write($0) }
        try [Float]().withUnsafeBufferPointer { try writer.write($0) }
        XCTAssertFalse(FileManager.default.fileExists(atPath: path), "nothing at the final name before finish")
        try writer.finish()
        XCTAssertFalse(FileManager.default.fileExists(atPath: path + ".tmp"))

        let file = try SafeTensorsFile(path: path)
        XCTAssertEqual(file.metadata, ["format": "pt", "source": "gpt-dist"])
        XCTAssertEqual(file.entries, [
            .init(name: "layer.a", dtype: .f32, shape: [3, 4], dataOffsets: 0..<48),
            .init(name: "b \"quoted\"", dtype: .f32, shape: [5], dataOffsets: 48..<68),
            .init(name: "s", dtype: .f32, shape: [], dataOffsets: 68..<72),
            .init(name: "empty", dtype: .f32, shape: [0, 3], dataOffsets: 72..<72),
        ])
        XCTAssertEqual(try file.floats("layer.a"), a)
        XCTAssertEqual(try file.floats("b \"quoted\"").map(\.bitPattern), b.map(\.bitPattern))
        XCTAssertEqual(try file.floats("s"), scalar)
        XCTAssertEqual(try file.floats("empty"), [])

        // The raw layout: 8-byte length, a header padded with spaces to 8 bytes, then the data.
        let raw = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        let length = raw[0..<8].enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        XCTAssertEqual(length % 8, 0)
        XCTAssertEqual(raw.count, 8 + length + 72)
        XCTAssertEqual(Array(raw[(8 + length)..<(8 + length + 48)]), bytes(of: a))
        let header = try XCTUnwrap(String(bytes: raw[8..<(8 + length)], encoding: .utf8))
        XCTAssertTrue(header.hasPrefix(#"{"__metadata__":{"format":"pt","source":"gpt-dist"},"layer.a":{"dtype":"F32","shape":[3,4],"data_offsets":[0,48]}"#), header)
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(header.utf8)) as? [String: Any])
        XCTAssertEqual(Set(json.keys), ["__metadata__", "layer.a", "b \"quoted\"", "s", "empty"])
    }

    func testWriterRefusesWrongCountsAndLeavesNoFile() throws {
        let path = folder.appendingPathComponent("bad.safetensors").path
        do {
            let writer = try SafeTensorsWriter(path: path, entries: [.init(name: "a", shape: [2]), .init(name: "b", shape: [1])])
            XCTAssertThrowsError(try [Float](repeating: 1, count: 3).withUnsafeBufferPointer { try writer.write($0) }) { error in
                XCTAssertEqual("\(error)", "\(path): tensor 'a' has 2 elements, given 3")
            }
            try [Float](repeating: 1, count: 2).withUnsafeBufferPointer { try writer.write($0) }
            XCTAssertThrowsError(try writer.finish()) { error in
                XCTAssertEqual("\(error)", "\(path): 1 of 2 tensors written")
            }
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: path))
        XCTAssertFalse(FileManager.default.fileExists(atPath: path + ".tmp"), "an unfinished writer removes its temporary file")
        XCTAssertThrowsError(try SafeTensorsWriter(path: path, entries: [.init(name: "a", shape: [1]), .init(name: "a", shape: [1])]))
    }

    func testHandMadeFileWithHolesAndUnorderedHeader() throws {
        // Entries listed out of data order, a gap between them, a header without padding.
        let header = #"{"second":{"dtype":"F32","shape":[1],"data_offsets":[8,12]},"first":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#
        let path = try file(bytes: safetensors(header: header, data: bytes(of: [1.5, -1, 2.5])))
        let tensors = try SafeTensorsFile(path: path)
        XCTAssertEqual(tensors.entries.map(\.name), ["first", "second"])
        XCTAssertEqual(try tensors.floats("first"), [1.5])
        XCTAssertEqual(try tensors.floats("second"), [2.5])
        XCTAssertEqual(tensors.metadata, [:])
    }
}
