import Foundation
import HDF5
import XCTest

/// One of the PyTorch fixtures in `Fixtures/` (written by nanoGPT's model.py; its root attribute
/// `layout` documents the groups), read through the HDF5 layer.
struct PyTorchFixture {
    let file: H5File

    init(name: String) throws {
        let url = try XCTUnwrap(Bundle.module.url(forResource: name, withExtension: "h5", subdirectory: "Fixtures"),
                                "fixture \(name).h5 is bundled")
        file = try H5File.open(at: url)
    }

    /// The float32 dataset at `group/name`, flattened.
    func floats(_ path: String) throws -> [Float] {
        try dataset(path).read(as: Float.self)
    }

    /// The int32 dataset at `group/name`, flattened.
    func ints(_ path: String) throws -> [Int32] {
        try dataset(path).read(as: Int32.self)
    }

    /// The float64 dataset at `group/name`, flattened.
    func doubles(_ path: String) throws -> [Double] {
        try dataset(path).read(as: Double.self)
    }

    /// The int64 dataset at `group/name`, flattened.
    func int64s(_ path: String) throws -> [Int64] {
        try dataset(path).read(as: Int64.self)
    }

    /// A numeric attribute of the group `object`.
    func attribute(_ object: String, _ name: String) throws -> Double {
        try file.group(object).attribute(name, as: Double.self)
    }

    func intAttribute(_ object: String, _ name: String) throws -> Int {
        try file.group(object).attribute(name, as: Int.self)
    }

    func dataset(_ path: String) throws -> H5Dataset {
        guard let slash = path.firstIndex(of: "/") else { return try file.group("/").dataset(path) }
        return try file.group(String(path[..<slash])).dataset(String(path[path.index(after: slash)...]))
    }
}
