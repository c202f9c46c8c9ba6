import Foundation
import HDF5
import XCTest

/// A fresh directory per test, removed afterwards.
class HDF5TestCase: XCTestCase {
    private(set) var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("HDF5Tests-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        if let directory { try? FileManager.default.removeItem(at: directory) }
    }

    /// A path in the test's directory.
    func path(_ name: String) -> String {
        directory.appendingPathComponent(name).path
    }

    /// Asserts `body` throws an ``HDF5Error`` and returns it for further checks.
    @discardableResult
    func assertHDF5Error<T>(_ body: @autoclosure () throws -> T, file: StaticString = #filePath,
                            line: UInt = #line) -> HDF5Error? {
        do {
            _ = try body()
            XCTFail("expected an HDF5Error", file: file, line: line)
            return nil
        } catch let error as HDF5Error {
            return error
        } catch {
            XCTFail("expected an HDF5Error, got \(error)", file: file, line: line)
            return nil
        }
    }
}
