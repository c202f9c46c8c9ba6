import Foundation
import XCTest

/// A fresh temporary folder per test, removed afterwards.
class SafeTensorsTestCase: XCTestCase {
    var folder: URL!

    override func setUpWithError() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("safetensors-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: folder)
    }

    /// Writes `bytes` to a file in the folder and returns its path.
    func file(_ name: String = "t.safetensors", bytes: [UInt8]) throws -> String {
        let url = folder.appendingPathComponent(name)
        try Data(bytes).write(to: url)
        return url.path
    }

    /// The bytes of a safetensors file: the header's length (or `headerLength`), the header, `data`.
    func safetensors(header: String, data: [UInt8], headerLength: UInt64? = nil) -> [UInt8] {
        let json = Array(header.utf8)
        var length = (headerLength ?? UInt64(json.count)).littleEndian
        return withUnsafeBytes(of: &length) { Array($0) } + json + data
    }

    /// The little-endian bytes of `values`.
    func bytes(of values: [Float]) -> [UInt8] {
        values.withUnsafeBytes { Array($0) }
    }
}
