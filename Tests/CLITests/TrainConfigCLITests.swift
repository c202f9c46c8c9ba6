import TestSupport
import XCTest

/// `gpt-dist train` rejects bad configs before any work, with one line naming file/key and a
/// non-zero exit; `gpt-dist plot` redraws a run's curves.
final class TrainConfigCLITests: XCTestCase {
    var directory: URL!

    override func setUpWithError() throws { directory = try makeTemporaryDirectory("train-cli") }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: directory) }

    func write(_ text: String, _ name: String = "x.yaml") throws -> String {
        let path = directory.appendingPathComponent(name).path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// Runs `gpt-dist` and returns its exit status and the error line it printed.
    func fail(_ arguments: [String]) throws -> (Int32, String) {
        let result = try runProduct("gpt-dist", arguments, currentDirectory: directory)
        let lines = result.stderr.split(separator: "\n").map(String.init).filter { !$0.isEmpty }
        XCTAssertEqual(lines.count, 1, "exactly one error line:\n\(result.output)")
        XCTAssertFalse(result.stderr.contains("Fatal error"), result.output)
        return (result.status, lines.first ?? "")
    }

    func testUnknownKey() throws {
        let file = try write("n_layer: 2\nlearning_rat: 1e-3\n")
        let (status, line) = try fail(["train", "--config", file])
        XCTAssertNotEqual(status, 0)
        XCTAssertEqual(line, "gpt-dist train: error: \(file):2: unknown key 'learning_rat' (did you mean learning_rate?)")
    }

    func testWrongTypeAndImpossibleValue() throws {
        let file = try write("n_layer: two\n")
        XCTAssertEqual(try fail(["train", "--config", file]).1, "gpt-dist train: error: \(file):1: n_layer: expected an integer, got \"two\"")
        let divisible = try write("n_head: 3\nn_embd: 100\n", "y.yaml")
        let (status, line) = try fail(["train", "--config", divisible])
        XCTAssertNotEqual(status, 0)
        XCTAssertEqual(line, "gpt-dist train: error: \(divisible):2: n_embd: 100 is not divisible by n_head 3")
    }

    func testSetOverridesAreTypedAndNamed() throws {
        let file = try write("n_layer: 2\n")
        XCTAssertEqual(try fail(["train", "--config", file, "--set", "dropout=lots"]).1,
                       "gpt-dist train: error: --set dropout: expected a number, got \"lots\"")
        XCTAssertEqual(try fail(["train", "--config", file, "--set", "dropout"]).1, "gpt-dist train: error: --set dropout: expected key=value")
        let ok = try runProduct("gpt-dist", ["train", "--config", file, "--set", "dropout=0.25", "--set", "bias=true", "--print-config"])
        XCTAssertEqual(ok.status, 0, ok.output)
        XCTAssertTrue(ok.stdout.contains("dropout: 0.25\n"), ok.stdout)
        XCTAssertTrue(ok.stdout.contains("bias: true\n"), ok.stdout)
        XCTAssertTrue(ok.stdout.contains("n_layer: 2\n"), ok.stdout)
    }

    func testMissingConfigFile() throws {
        let (status, line) = try fail(["train", "--config", "/nonexistent/c.yaml"])
        XCTAssertNotEqual(status, 0)
        XCTAssertEqual(line, "gpt-dist train: error: /nonexistent/c.yaml: cannot read the config: no such file")
    }

    func testPlotRedrawsFromMetrics() throws {
        let out = directory.appendingPathComponent("run")
        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
        try """
        {"event":"train","iter":0,"loss":4.2,"lr":0.001,"tokens_per_sec":100,"mfu":0.1,"elapsed":1}
        {"event":"train","iter":10,"loss":3.1,"lr":0.001,"tokens_per_sec":100,"mfu":0.1,"elapsed":2}
        {"event":"eval","iter":10,"loss":3.0,"val_loss":3.2,"lr":0.001,"tokens_per_sec":100,"mfu":0.1,"elapsed":2}

        """.write(to: out.appendingPathComponent("metrics.jsonl"), atomically: true, encoding: .utf8)
        let result = try runProduct("gpt-dist", ["plot", out.path])
        XCTAssertEqual(result.status, 0, result.output)
        let svg = try String(contentsOf: out.appendingPathComponent("loss.svg"), encoding: .utf8)
        XCTAssertTrue(svg.hasPrefix("<?xml"))
        XCTAssertTrue(svg.contains("<polyline"))
        XCTAssertTrue(svg.hasSuffix("</svg>\n"))

        let (status, line) = try fail(["plot", directory.appendingPathComponent("nothing").path])
        XCTAssertNotEqual(status, 0)
        XCTAssertEqual(line, "gpt-dist plot: error: \(directory.appendingPathComponent("nothing/metrics.jsonl").path): cannot open: no such file")
    }
}
