import Foundation
import TestSupport
import XCTest

/// One rank of a 2-rank run killed (SIGKILL) mid-training: the job ends promptly, non-zero, and
/// the log names the rank and the host; nobody hangs in a collective.
final class TrainDeadRankTests: XCTestCase {
    var directory: URL!
    var data: String!

    override func setUpWithError() throws {
        directory = try makeTemporaryDirectory("train-dead-rank")
        data = try TrainTestData.prepareDataset(in: directory)
    }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: directory) }

    /// The pid of the `gpt-dist` process whose command line mentions `marker` and whose Open MPI
    /// rank is `rank`.
    func rankProcess(_ rank: Int, marker: String) -> pid_t? {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        for entry in entries {
            guard let pid = pid_t(entry),
                  let command = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline"),
                  String(decoding: command, as: UTF8.self).contains(marker),
                  let environment = FileManager.default.contents(atPath: "/proc/\(entry)/environ") else { continue }
            let variables = environment.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
            if variables.contains("OMPI_COMM_WORLD_RANK=\(rank)") { return pid }
        }
        return nil
    }

    func testKilledRankEndsTheJobPromptlyAndIsNamed() throws {
        let mpirun = try XCTUnwrap(mpirunURL)
        let out = directory.appendingPathComponent("out").path
        let config = directory.appendingPathComponent("c.yaml").path
        try TrainTestData.config(dataDir: data, outDir: out).write(toFile: config, atomically: true, encoding: .utf8)
        let process = Process()
        process.executableURL = mpirun
        process.arguments = ["-np", "2", "--oversubscribe", "--bind-to", "none", productURL("gpt-dist").path,
                             "train", "--config", config, "--quiet", "--set", "max_iters=100000", "--set", "eval_interval=100000"]
        process.environment = childEnvironment(TrainTestData.environment)
        let errors = directory.appendingPathComponent("stderr.txt")
        XCTAssertTrue(FileManager.default.createFile(atPath: errors.path, contents: nil))
        process.standardError = try FileHandle(forWritingTo: errors)
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        defer { if process.isRunning { process.terminate() } }

        // Wait until training is under way (a few steps logged), then kill rank 1.
        var deadline = Date().addingTimeInterval(60)
        while Date() < deadline, ((try? TrainTestData.metrics(out))?.filter { $0.event == "train" }.count ?? 0) < 3 {
            Thread.sleep(forTimeInterval: 0.1)
        }
        let victim = try XCTUnwrap(rankProcess(1, marker: config), "rank 1 of the job")
        XCTAssertEqual(kill(victim, SIGKILL), 0)
        let killed = Date()
        deadline = killed.addingTimeInterval(30)
        while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.1) }
        XCTAssertFalse(process.isRunning, "every rank must be gone within 30 s of the kill")
        process.waitUntilExit()
        XCTAssertNotEqual(process.terminationStatus, 0)
        XCTAssertNil(rankProcess(0, marker: config), "rank 0 is gone too")
        let log = try String(contentsOf: errors, encoding: .utf8)
        XCTAssertTrue(log.contains("process rank 1 with PID"), log)
        XCTAssertTrue(log.contains("exited on signal 9 (Killed)"), log)
    }
}
