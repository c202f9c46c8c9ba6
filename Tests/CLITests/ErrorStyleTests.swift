import Foundation
import TestSupport
import XCTest

/// Every command reports a mistake the same way: one line on standard error,
/// `gpt-dist <command>: error: <message>`, nothing on standard output, a non-zero status;
/// argument-parser's own errors included (no usage text), negative numbers parsed as numbers.
final class ErrorStyleTests: XCTestCase {
    var directory: URL!

    override func setUpWithError() throws { directory = try makeTemporaryDirectory("error-style") }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: directory) }

    func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

    /// Runs `gpt-dist arguments`; asserts the one-line style and returns the line.
    func errorLine(_ arguments: [String], status expected: Int32? = nil, file: StaticString = #filePath, line: UInt = #line) throws -> String {
        let result = try runProduct("gpt-dist", arguments, currentDirectory: directory)
        XCTAssertNotEqual(result.status, 0, result.output, file: file, line: line)
        if let expected { XCTAssertEqual(result.status, expected, result.output, file: file, line: line) }
        XCTAssertEqual(result.stdout, "", result.output, file: file, line: line)
        XCTAssertTrue(result.stderr.hasSuffix("\n"), result.output, file: file, line: line)
        let lines = result.stderr.split(separator: "\n", omittingEmptySubsequences: false).dropLast()
        XCTAssertEqual(lines.count, 1, "exactly one line: \(result.output)", file: file, line: line)
        return lines.first.map(String.init) ?? ""
    }

    func testEveryCommandsErrorIsOneLineInOneStyle() throws {
        let config = path("c.yaml")
        try "n_layer: 2\n".write(toFile: config, atomically: true, encoding: .utf8)
        let text = path("t.txt")
        try "some text\n".write(toFile: text, atomically: true, encoding: .utf8)
        let cases: [([String], String, Int32)] = [
            (["frobnicate"], "gpt-dist: error: Unexpected argument 'frobnicate'", 64),
            (["doctor", "--repetitions", "0"], "gpt-dist doctor: error: --repetitions must be at least 1, got 0", 64),
            (["bench", "--batch-size", "-2"], "gpt-dist bench: error: --batch-size must be positive", 64),
            (["prepare", "--out", path("d")], "gpt-dist prepare: error: give at least one --input FILE or FOLDER", 1),
            (["tokenizer", "train", "--vocab-size", "100", text, "--out", path("tok")],
             "gpt-dist tokenizer train: error: --vocab-size must be at least 257 (<|endoftext|> and the 256 byte symbols), got 100", 64),
            (["tokenizer", "encode", "hi"], "gpt-dist tokenizer encode: error: give --vocab and --merges (or --dir)", 64),
            (["train"], "gpt-dist train: error: Missing expected argument '--config <config>'", 64),
            (["train", "--config", config, "--set", "dropout=lots"], "gpt-dist train: error: --set dropout: expected a number, got \"lots\"", 1),
            (["train", "--config", config, "--set", "dropuot=0.1"], "gpt-dist train: error: --set dropuot: unknown key (did you mean dropout?)", 1),
            (["eval", "--checkpoint", path("ckpt.h5"), "--data", path("data"), "--split", "test"],
             "gpt-dist eval: error: --split: expected train or val, got 'test'", 64),
            (["sample", "--checkpoint", path("ckpt.h5"), "--temperature", "-1"],
             "gpt-dist sample: error: --temperature: must be 0 (greedy) or more, got -1.0", 64),
            (["sample", "--checkpoint", path("ckpt.h5"), "--top-k", "many"],
             "gpt-dist sample: error: The value 'many' is invalid for '--top-k <top-k>'", 64),
            (["plot", path("run")], "gpt-dist plot: error: \(path("run/metrics.jsonl")): cannot open: no such file", 1),
            (["import", "--from", path("hf"), "--out", path("x.h5")], "gpt-dist import: error: \(path("hf")): is not a directory (a Hugging Face model: config.json, model.safetensors)", 1),
            (["export", "--checkpoint", path("ckpt.h5"), "--format", "onnx", "--out", path("o")],
             "gpt-dist export: error: --format: expected huggingface, got 'onnx'", 1),
        ]
        for (arguments, expected, status) in cases {
            XCTAssertEqual(try errorLine(arguments, status: status), expected, arguments.joined(separator: " "))
        }
    }

    /// Runtime failures of the commands that read files: the same prefix, the file named.
    func testRuntimeErrorsOfFileReadingCommands() throws {
        let missing = path("none.h5")
        for command in [["sample", "--checkpoint", missing], ["eval", "--checkpoint", missing, "--data", path("data")],
                        ["export", "--checkpoint", missing, "--out", path("o")],
                        ["tokenizer", "decode", "--dir", path("tok"), "1"]] {
            let line = try errorLine(command)
            let prefix = "gpt-dist \(command[0] == "tokenizer" ? "tokenizer decode" : command[0]): error: "
            XCTAssertTrue(line.hasPrefix(prefix), line)
            XCTAssertTrue(line.contains(command[0] == "tokenizer" ? path("tok") : command[0] == "eval" ? path("data") : missing), line)
        }
    }
}
