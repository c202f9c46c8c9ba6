import Foundation
import HDF5
import XCTest

/// The library build is not thread-safe; the layer's lock must make concurrent use safe.
final class ConcurrencyTests: HDF5TestCase {
    func testConcurrentWritersAndReadersOnSeparateAndSharedFiles() throws {
        let shared = try H5File.create(at: path("shared.h5"))
        let sharedData = try shared.createDataset("x", values: (0..<4096).map { Float($0) })
        let failures = NSLock()
        var errors: [String] = []
        DispatchQueue.concurrentPerform(iterations: 16) { worker in
            do {
                let file = try H5File.create(at: path("worker\(worker).h5"))
                for round in 0..<20 {
                    let values = (0..<256).map { Int32(worker * 10_000 + round * 256 + $0) }
                    let dataset = try file.createDataset("g\(round % 3)/d\(round)", values: values, shape: [16, 16])
                    try dataset.setAttribute("round", round)
                    guard try dataset.read(start: [round % 16, 0], count: [1, 16], as: Int32.self)
                            == Array(values[(round % 16 * 16)..<(round % 16 * 16 + 16)]),
                          try dataset.attribute("round", as: Int.self) == round,
                          try sharedData.read(offset: worker * 100, count: 3, as: Float.self)
                            == [Float(worker * 100), Float(worker * 100 + 1), Float(worker * 100 + 2)]
                    else { throw HDF5Error.readFailed(file: file.filePath, object: "d\(round)", reason: "wrong data") }
                }
                file.close()
                XCTAssertEqual(try H5File.open(at: path("worker\(worker).h5")).datasetPaths().count, 20)
            } catch {
                failures.lock(); errors.append("\(error)"); failures.unlock()
            }
        }
        XCTAssertEqual(errors, [])
    }

    func testLayerCallsWaitForTheLibraryLock() throws {
        let file = try H5File.create(at: path("locked.h5"))
        let dataset = try file.createDataset("x", values: [Int32(5)])
        let finished = DispatchSemaphore(value: 0)
        let result = LockedValue<[Int32]>([])
        HDF5Library.withLock {
            DispatchQueue.global().async {
                let value = (try? dataset.read(as: Int32.self)) ?? []
                result.set(value)
                finished.signal()
            }
            // While this thread holds the lock the read cannot get into the library.
            XCTAssertEqual(finished.wait(timeout: .now() + 0.3), .timedOut)
            // The lock is recursive: the holder can still use the layer.
            XCTAssertEqual(try? dataset.read(as: Int32.self), [5])
        }
        XCTAssertEqual(finished.wait(timeout: .now() + 30), .success)
        XCTAssertEqual(result.get(), [5])
    }

    func testDatasetPathsListsNestedDatasetsAndHardLinks() throws {
        let file = try H5File.create(at: path("paths.h5"))
        try file.createDataset("model/a.weight", values: [Float(1)])
        try file.createDataset("model/h/0/b", values: [Float(1)])
        try file.createDataset("top", values: [Int32(1)])
        try file.link(target: "model/a.weight", as: "model/tied")
        XCTAssertEqual(try file.datasetPaths(), ["/model/a.weight", "/model/h/0/b", "/model/tied", "/top"])
        XCTAssertEqual(try file.group("model/h").datasetPaths(), ["/model/h/0/b"])
    }

    func testTruncatedHDF5FileNamesTheFile() throws {
        let whole = path("whole.h5")
        try H5File.create(at: whole).createDataset("x", values: [Float](repeating: 1, count: 10_000))
        let bytes = try Data(contentsOf: URL(fileURLWithPath: whole))
        let cut = path("cut.h5")
        try bytes.prefix(bytes.count / 2).write(to: URL(fileURLWithPath: cut))
        let error = assertHDF5Error(try H5File.open(at: cut).dataset("x").read(as: Float.self))
        XCTAssertEqual(error?.file, cut)
        XCTAssertTrue(error?.description.hasPrefix(cut + ": ") ?? false, error?.description ?? "")
    }
}

/// A value shared between threads in a test.
private final class LockedValue<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value
    init(_ value: Value) { self.value = value }
    func set(_ newValue: Value) { lock.lock(); value = newValue; lock.unlock() }
    func get() -> Value { lock.lock(); defer { lock.unlock() }; return value }
}
