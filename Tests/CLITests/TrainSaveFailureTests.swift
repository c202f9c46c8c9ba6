import Foundation
import GPT
import TestSupport
import XCTest

/// A save that cannot complete (a full file system; where the test cannot mount one, a path it
/// cannot write) stops the run with one line, leaving the previous checkpoint whole and no
/// temporary file, on every rank.
final class TrainSaveFailureTests: XCTestCase {
    var directory: URL!
    var data: String!
    var mounted: String?

    override func setUpWithError() throws {
        directory = try makeTemporaryDirectory("train-save-failure")
        data = try TrainTestData.prepareDataset(in: directory)
    }
    override func tearDownWithError() throws {
        if let mounted { _ = try? TestSupport.run(URL(fileURLWithPath: "/bin/umount"), [mounted]) }
        try? FileManager.default.removeItem(at: directory)
    }

    func train(_ out: String, _ overrides: [String]) throws -> ProcessResult {
        let config = directory.appendingPathComponent("c.yaml").path
        try TrainTestData.config(dataDir: data, outDir: out).write(toFile: config, atomically: true, encoding: .utf8)
        return try mpirun(np: 2, "gpt-dist", ["train", "--config", config, "--quiet"] + overrides.flatMap { ["--set", $0] },
                          environment: TrainTestData.environment)
    }

    /// A tmpfs of `bytes`, or nil where mounting is not allowed.
    func mountTmpfs(bytes: Int) throws -> String? {
        let point = directory.appendingPathComponent("small").path
        try FileManager.default.createDirectory(atPath: point, withIntermediateDirectories: true)
        let mount = try TestSupport.run(URL(fileURLWithPath: "/bin/mount"), ["-t", "tmpfs", "-o", "size=\(bytes)", "tmpfs", point])
        guard mount.status == 0 else { return nil }
        mounted = point
        return point
    }

    func testSaveThatFailsStopsCleanlyAndKeepsThePreviousCheckpoint() throws {
        // How big one checkpoint is: a file system with room for it and half another.
        let probe = directory.appendingPathComponent("probe").path
        XCTAssertEqual(try train(probe, ["max_iters=10"]).status, 0)
        let size = try XCTUnwrap(FileManager.default.attributesOfItem(atPath: probe + "/ckpt.h5")[.size] as? Int)
        let out: String, expected: String
        if let small = try mountTmpfs(bytes: size * 3 / 2 + 64 * 1024) {
            out = small + "/out"
            expected = "No space left on device"
        } else {
            // No mount here (and root writes into read-only folders): a folder where the temporary file goes.
            out = directory.appendingPathComponent("blocked").path
            XCTAssertEqual(try train(out, ["max_iters=10"]).status, 0)
            try FileManager.default.createDirectory(atPath: out + "/ckpt.h5.tmp/x", withIntermediateDirectories: true)
            expected = "ckpt.h5.tmp"
        }
        let result = try train(out, mounted == nil ? ["init_from=resume"] : [])
        XCTAssertNotEqual(result.status, 0)
        XCTAssertNotEqual(result.status, 139, "no crash at exit")
        let errors = result.stderr.split(separator: "\n").filter { $0.hasPrefix("gpt-dist train: error: ") }
        XCTAssertEqual(errors.count, 1, result.stderr)
        XCTAssertTrue(errors.first?.hasPrefix("gpt-dist train: error: \(out)/ckpt.h5: cannot write the checkpoint: ") == true, result.stderr)
        XCTAssertTrue(errors.first?.contains(expected) == true, result.stderr)
        XCTAssertFalse(result.stderr.contains("Program crashed"), result.stderr)
        // The save at 10 is whole and resumable; the one at 20 left nothing behind.
        let kept = try Checkpoint.read(path: out + "/ckpt.h5")
        XCTAssertEqual(kept.state?.iteration, 10)
        if mounted != nil { XCTAssertFalse(FileManager.default.fileExists(atPath: out + "/ckpt.h5.tmp")) }
    }
}
