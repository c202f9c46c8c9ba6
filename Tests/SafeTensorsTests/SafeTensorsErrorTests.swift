import Foundation
import SafeTensors
import XCTest

/// Every malformed file is one `SafeTensorsError` of the right kind whose line names the file.
final class SafeTensorsErrorTests: SafeTensorsTestCase {
    /// Opens `bytes` as a file and returns the error, checking it names the file.
    func failure(_ bytes: [UInt8], _ kind: SafeTensorsError.Kind, file line: UInt = #line) throws -> SafeTensorsError {
        let path = try file(bytes: bytes)
        do {
            _ = try SafeTensorsFile(path: path)
        } catch let error as SafeTensorsError {
            XCTAssertEqual(error.kind, kind, "\(error)", line: line)
            XCTAssertEqual(error.path, path, line: line)
            XCTAssertTrue(error.description.hasPrefix(path + ": "), error.description, line: line)
            XCTAssertFalse(error.description.contains("\n"), line: line)
            return error
        }
        XCTFail("opened a malformed file", line: line)
        return SafeTensorsError(path: path, .unreadable, "")
    }

    func testMissingFileIsUnreadable() throws {
        let path = folder.appendingPathComponent("absent.safetensors").path
        XCTAssertThrowsError(try SafeTensorsFile(path: path)) { error in
            XCTAssertEqual((error as? SafeTensorsError)?.kind, .unreadable)
            XCTAssertEqual("\(error)", "\(path): cannot open: No such file or directory")
        }
    }

    func testShorterThanTheHeaderLengthIsTruncated() throws {
        let error = try failure([1, 0, 0], .truncated)
        XCTAssertTrue(error.message.contains("3 bytes long"), error.message)
        _ = try failure([], .truncated)
    }

    func testHeaderLengthPastTheEnd() throws {
        let error = try failure(safetensors(header: "{}", data: [], headerLength: 1000), .headerPastEnd)
        XCTAssertEqual(error.message, "header length 1000 runs past the end of the file (10 bytes): truncated, or not safetensors")
        // A file cut inside its header is the same problem.
        let whole = safetensors(header: #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#, data: bytes(of: [1]))
        _ = try failure(Array(whole.prefix(20)), .headerPastEnd)
        // A huge length (not safetensors at all: text) does not overflow.
        _ = try failure(Array("hello, world, this is text".utf8), .headerPastEnd)
    }

    func testHeaderThatIsNotJSON() throws {
        _ = try failure(safetensors(header: "{not json", data: []), .invalidHeader)
        _ = try failure(safetensors(header: "[1, 2]", data: []), .invalidHeader)
        let noShape = try failure(safetensors(header: #"{"a":{"dtype":"F32","data_offsets":[0,4]}}"#, data: bytes(of: [1])), .invalidHeader)
        XCTAssertEqual(noShape.message, "tensor 'a' has no shape of non-negative integers")
        _ = try failure(safetensors(header: #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}}"#, data: bytes(of: [1])), .invalidHeader)
        _ = try failure(safetensors(header: #"{"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}}"#, data: bytes(of: [1])), .invalidHeader)
        _ = try failure(safetensors(header: #"{"__metadata__":{"format":1}}"#, data: []), .invalidHeader)
    }

    func testUnknownDType() throws {
        let error = try failure(safetensors(header: #"{"a":{"dtype":"Q4","shape":[2],"data_offsets":[0,1]}}"#, data: [0]), .unknownDType)
        XCTAssertEqual(error.message, "tensor 'a' has dtype 'Q4', which is not a safetensors dtype")
    }

    func testShapeThatDoesNotMatchTheData() throws {
        let error = try failure(safetensors(header: #"{"w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,16]}}"#,
                                            data: [UInt8](repeating: 0, count: 24)), .shapeMismatch)
        XCTAssertEqual(error.message, "tensor 'w' has shape [2, 3] (24 bytes of F32) but data_offsets [0, 16] hold 16 bytes")
        // F16 elements are two bytes.
        _ = try failure(safetensors(header: #"{"h":{"dtype":"F16","shape":[3],"data_offsets":[0,12]}}"#,
                                    data: [UInt8](repeating: 0, count: 12)), .shapeMismatch)
    }

    func testOffsetsOutsideTheData() throws {
        let error = try failure(safetensors(header: #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#, data: bytes(of: [1, 2])), .outOfBounds)
        XCTAssertEqual(error.message, "tensor 'a' data_offsets [4, 12] reach past the end of the data (8 bytes): truncated file?")
        // A whole file cut in its data.
        let whole = safetensors(header: #"{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#, data: bytes(of: [1, 2, 3, 4]))
        _ = try failure(Array(whole.dropLast(3)), .outOfBounds)
    }

    func testOverlappingOffsets() throws {
        let header = #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#
        let error = try failure(safetensors(header: header, data: bytes(of: [1, 2, 3])), .overlap)
        XCTAssertEqual(error.message, "tensors 'a' [0, 8] and 'b' [4, 12] overlap")
    }

    func testReadingAnotherDTypeOrAMissingTensorOrAWrongBuffer() throws {
        let header = #"{"n":{"dtype":"I32","shape":[2],"data_offsets":[0,8]},"f":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}"#
        let path = try file(bytes: safetensors(header: header, data: [UInt8](repeating: 0, count: 16)))
        let tensors = try SafeTensorsFile(path: path)
        XCTAssertEqual(tensors.entries.map(\.name), ["n", "f"])
        XCTAssertThrowsError(try tensors.floats("n")) { error in
            XCTAssertEqual((error as? SafeTensorsError)?.kind, .unsupportedDType)
            XCTAssertEqual("\(error)", "\(path): tensor 'n' is I32; gpt-dist reads F32, F16 and BF16")
        }
        XCTAssertThrowsError(try tensors.floats("absent")) { error in
            XCTAssertEqual("\(error)", "\(path): has no tensor 'absent'")
        }
        var three = [Float](repeating: 0, count: 3)
        XCTAssertThrowsError(try three.withUnsafeMutableBufferPointer { try tensors.read("f", into: $0) }) { error in
            XCTAssertEqual((error as? SafeTensorsError)?.kind, .invalidArgument)
        }
    }
}
