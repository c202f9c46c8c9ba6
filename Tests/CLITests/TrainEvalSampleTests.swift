import Foundation
import TestSupport
import XCTest

/// `gpt-dist eval` and `gpt-dist sample` on a checkpoint trained here, fine-tuning from a
/// checkpoint path, and Ctrl-C during training.
final class TrainEvalSampleTests: XCTestCase {
    var directory: URL!
    var data: String!
    var checkpoint: String!
    var config: String!

    override func setUpWithError() throws {
        directory = try makeTemporaryDirectory("train-eval")
        data = try TrainTestData.prepareDataset(in: directory)
        config = directory.appendingPathComponent("c.yaml").path
        let out = directory.appendingPathComponent("out").path
        try TrainTestData.config(dataDir: data, outDir: out).write(toFile: config, atomically: true, encoding: .utf8)
        let result = try runProduct("gpt-dist", ["train", "--config", config, "--set", "max_iters=10"],
                                    environment: TrainTestData.environment)
        XCTAssertEqual(result.status, 0, result.output)
        checkpoint = out + "/ckpt.h5"
    }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: directory) }

    func testEvalIsDeterministicAndCoversEveryWindow() throws {
        let first = try runProduct("gpt-dist", ["eval", "--checkpoint", checkpoint, "--data", data, "--json"])
        XCTAssertEqual(first.status, 0, first.output)
        let second = try runProduct("gpt-dist", ["eval", "--checkpoint", checkpoint, "--data", data, "--json"])
        XCTAssertEqual(first.stdout, second.stdout)
        let object = try JSONSerialization.jsonObject(with: Data(first.stdout.utf8)) as! [String: Any]
        XCTAssertEqual(object["split"] as? String, "val")
        XCTAssertEqual((object["windows"] as? NSNumber)?.intValue, 250, "(4001 - 1) / 16 windows")
        XCTAssertEqual((object["tokens"] as? NSNumber)?.intValue, 4000)
        let loss = try XCTUnwrap((object["loss"] as? NSNumber)?.doubleValue)
        XCTAssertTrue(loss > 1 && loss < 4, "\(loss)")

        // Another batch size and 2 ranks: the same windows, the same mean up to rounding.
        let batched = try runProduct("gpt-dist", ["eval", "--checkpoint", checkpoint, "--data", data, "--json", "--batch-size", "7"])
        let parallel = try mpirun(np: 2, "gpt-dist", ["eval", "--checkpoint", checkpoint, "--data", data, "--json"])
        XCTAssertEqual(parallel.status, 0, parallel.output)
        for other in [batched, parallel] {
            let o = try JSONSerialization.jsonObject(with: Data(other.stdout.utf8)) as! [String: Any]
            XCTAssertEqual((o["loss"] as! NSNumber).doubleValue, loss, accuracy: 1e-6 * loss, other.output)
        }
        let text = try runProduct("gpt-dist", ["eval", "--checkpoint", checkpoint, "--data", data, "--split", "train"])
        XCTAssertEqual(text.status, 0, text.output)
        XCTAssertTrue(text.stdout.hasPrefix("train loss "), text.stdout)
        XCTAssertTrue(text.stdout.contains("over 2249 windows of 16 tokens"), text.stdout)
    }

    func testEvalErrors() throws {
        var result = try runProduct("gpt-dist", ["eval", "--checkpoint", directory.path + "/none.h5", "--data", data])
        XCTAssertNotEqual(result.status, 0)
        XCTAssertEqual(result.stderr.split(separator: "\n").count, 1, result.output)
        XCTAssertTrue(result.stderr.contains("none.h5"), result.stderr)
        result = try runProduct("gpt-dist", ["eval", "--checkpoint", checkpoint, "--data", data, "--split", "test"])
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.stderr.contains("--split: expected train or val, got 'test'"), result.stderr)
    }

    func testSamplingIsDeterministicUnderASeed() throws {
        func sample(_ seed: Int, _ extra: [String] = []) throws -> ProcessResult {
            try runProduct("gpt-dist", ["sample", "--checkpoint", checkpoint, "--prompt", "The king",
                                        "--num-samples", "2", "--max-new-tokens", "40", "--seed", String(seed)] + extra)
        }
        let a = try sample(7), b = try sample(7), c = try sample(8)
        XCTAssertEqual(a.status, 0, a.output)
        XCTAssertEqual(a.stdout, b.stdout)
        XCTAssertNotEqual(a.stdout, c.stdout)
        let samples = a.stdout.components(separatedBy: "\n---------------\n").filter { !$0.isEmpty }
        XCTAssertEqual(samples.count, 2, a.stdout)
        for s in samples {
            XCTAssertTrue(s.hasPrefix("The king"), s)
            XCTAssertEqual(s.unicodeScalars.count, "The king".count + 40, s)
        }
        // Greedy decoding ignores the seed.
        XCTAssertEqual(try sample(1, ["--temperature", "0"]).stdout, try sample(2, ["--temperature", "0"]).stdout)
        let topP = try sample(7, ["--top-p", "0.5", "--top-k", "0"])
        XCTAssertEqual(topP.status, 0, topP.output)

        let bad = try runProduct("gpt-dist", ["sample", "--checkpoint", checkpoint, "--prompt", "Zebra#"])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertEqual(bad.stderr.split(separator: "\n").count, 1, bad.output)
        XCTAssertTrue(bad.stderr.contains("prompt:"), bad.stderr)
    }

    func testFineTuneFromACheckpointPathWithACroppedContext() throws {
        let out = directory.appendingPathComponent("tuned").path
        let result = try runProduct("gpt-dist", ["train", "--config", config, "--set", "init_from=\(checkpoint!)",
                                                 "--set", "out_dir=\(out)", "--set", "max_iters=4", "--set", "block_size=8",
                                                 "--set", "eval_interval=2"],
                                    environment: TrainTestData.environment)
        XCTAssertEqual(result.status, 0, result.output)
        XCTAssertTrue(result.stdout.contains("fine-tuning \(checkpoint!)"), result.stdout)
        XCTAssertTrue(result.stdout.contains("block 8"), result.stdout)
        let evals = try TrainTestData.metrics(out).filter { $0.event == "eval" }
        XCTAssertEqual(evals.map(\.iter), [0, 2, 4])
        // Starting from trained weights: well below an untrained model's ln(35) = 3.56.
        XCTAssertLessThan(try XCTUnwrap(evals.first?.valLoss), 3.3)
        let eval = try runProduct("gpt-dist", ["eval", "--checkpoint", out + "/ckpt.h5", "--data", data, "--json"])
        XCTAssertTrue(eval.stdout.contains("\"block_size\":8"), eval.output)
    }

    /// Ctrl-C finishes the step, saves a checkpoint and exits 1 (the status mpirun gives a
    /// signalled job); the run resumes from it.
    func testInterruptSavesAndResumes() throws {
        try interruptAndResume(np: nil)
    }

    /// The same under mpirun: every rank agrees on the step to stop after.
    func testInterruptUnderMPIRun() throws {
        try interruptAndResume(np: 2)
    }

    private func interruptAndResume(np: Int?) throws {
        let out = directory.appendingPathComponent("long\(np ?? 1)").path
        let arguments: [String] = ["train", "--config", config!, "--set", "out_dir=\(out)", "--set", "max_iters=1000000",
                         "--set", "lr_decay_iters=1000000", "--set", "eval_interval=100000"]
        let process = Process()
        if let np {
            process.executableURL = try XCTUnwrap(mpirunURL)
            process.arguments = ["-np", String(np), "--oversubscribe", "--bind-to", "none", productURL("gpt-dist").path] + arguments
        } else {
            process.executableURL = productURL("gpt-dist")
            process.arguments = arguments
        }
        process.environment = childEnvironment(TrainTestData.environment)
        let stdout = Pipe()
        process.standardOutput = stdout
        process.standardError = FileHandle.nullDevice
        try process.run()
        // Wait for a few logged steps.
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            if let records = try? TrainTestData.metrics(out), records.filter({ $0.event == "train" }).count >= 3 { break }
            Thread.sleep(forTimeInterval: 0.1)
        }
        kill(process.processIdentifier, SIGINT)
        process.waitUntilExit()
        let output = String(decoding: stdout.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        // mpirun reports 1 once it was sent a signal (Open MPI), and one rank alone does the same.
        XCTAssertEqual(process.terminationStatus, 1, output)
        XCTAssertTrue(output.contains("stopped at iteration"), output)
        XCTAssertEqual(output.components(separatedBy: "stopped at iteration").count - 1, 1, "rank 0 alone reports")
        let steps = try TrainTestData.stepLosses(out)
        let last = try XCTUnwrap(steps.keys.max())
        XCTAssertTrue(output.contains("stopped at iteration \(last + 1)"), "\(last)\n\(output)")

        let resumed = try runProduct("gpt-dist", ["train", "--config", config, "--set", "out_dir=\(out)",
                                                  "--set", "init_from=resume", "--set", "max_iters=\(last + 3)",
                                                  "--set", "lr_decay_iters=1000000", "--set", "eval_interval=100000"],
                                     environment: TrainTestData.environment)
        XCTAssertEqual(resumed.status, 0, resumed.output)
        XCTAssertTrue(resumed.stdout.contains("at iteration \(last + 1)"), resumed.stdout)
        XCTAssertTrue(resumed.stdout.contains("done: \(last + 3) iterations"), resumed.stdout)
    }
}
