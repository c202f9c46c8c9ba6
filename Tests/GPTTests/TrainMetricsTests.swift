import CBLAS
import XCTest
#if canImport(FoundationXML)
import FoundationXML
#endif
@testable import GPT

final class TrainMetricsTests: XCTestCase {
    var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("metrics-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: directory) }

    func testJSONLinesRoundTrip() throws {
        let path = directory.appendingPathComponent("metrics.jsonl").path
        let records = [
            MetricsRecord(event: .train, iter: 0, loss: 4.17, lr: 1e-5, tokensPerSecond: 1000, mfu: .nan, elapsed: 0.5),
            MetricsRecord(event: .train, iter: 10, loss: 3.5, lr: 1e-4, tokensPerSecond: 20000, mfu: 0.4, elapsed: 1.5),
            MetricsRecord(event: .eval, iter: 10, loss: 3.4, valLoss: 3.6, lr: 1e-4, tokensPerSecond: 20000, mfu: 0.4, elapsed: 2),
        ]
        do {
            let log = try MetricsLog(path: path)
            for r in records { try log.append(r) }
        }
        let text = try String(contentsOfFile: path, encoding: .utf8)
        let lines = text.split(separator: "\n")
        XCTAssertEqual(lines.count, 3)
        XCTAssertEqual(String(lines[0]), "{\"event\":\"train\",\"iter\":0,\"loss\":4.17,\"lr\":1e-05,\"tokens_per_sec\":1000.0,\"mfu\":null,\"elapsed\":0.5}")
        for line in lines {
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            XCTAssertNotNil(object?["iter"]); XCTAssertNotNil(object?["loss"]); XCTAssertNotNil(object?["lr"])
            XCTAssertNotNil(object?["tokens_per_sec"]); XCTAssertNotNil(object?["mfu"]); XCTAssertNotNil(object?["elapsed"])
        }
        let read = try MetricsLog.read(path: path)
        XCTAssertEqual(read.count, 3)
        XCTAssertEqual(read[2].valLoss, 3.6); XCTAssertEqual(read[2].event, .eval); XCTAssertEqual(read[1].mfu, 0.4)
        XCTAssertTrue(read[0].mfu.isNaN)

        // Reopening appends; a resumed run that logs iteration 10 again replaces the old record.
        let log = try MetricsLog(path: path)
        try log.append(MetricsRecord(event: .train, iter: 10, loss: 3.0, lr: 1e-4, tokensPerSecond: 1, mfu: 0, elapsed: 0))
        let reread = try MetricsLog.read(path: path)
        XCTAssertEqual(reread.map(\.iter), [0, 10, 10])
        XCTAssertEqual(reread.last?.loss, 3.0)
    }

    func testSVGIsWellFormedWithCurvesAndLegend() throws {
        var records: [MetricsRecord] = []
        for i in stride(from: 0, through: 200, by: 10) {
            records.append(MetricsRecord(event: .train, iter: i, loss: 4 - Double(i) / 100, lr: 1e-3, tokensPerSecond: 1, mfu: 0.1, elapsed: 1))
        }
        for i in [0, 100, 200] {
            records.append(MetricsRecord(event: .eval, iter: i, loss: 4 - Double(i) / 90, valLoss: 4.1 - Double(i) / 100,
                                         lr: 1e-3, tokensPerSecond: 1, mfu: 0.1, elapsed: 1))
        }
        let svg = LossPlot.svg(records: records, title: "loss <run>")
        let document = try XMLDocument(data: Data(svg.utf8))
        let root = try XCTUnwrap(document.rootElement())
        XCTAssertEqual(root.name, "svg")
        let polylines = try root.nodes(forXPath: "//*[local-name()='polyline']")
        XCTAssertEqual(polylines.count, 3)
        let texts = try root.nodes(forXPath: "//*[local-name()='text']").compactMap(\.stringValue)
        XCTAssertTrue(texts.contains("train (batch)")); XCTAssertTrue(texts.contains("val (eval)"))
        XCTAssertTrue(texts.contains("iteration")); XCTAssertTrue(texts.contains("loss <run>"))
        XCTAssertTrue(texts.contains("200"), "x ticks reach the last iteration: \(texts)")
        // Every point lies inside the plot area.
        for node in polylines {
            let points = (node as? XMLElement)?.attribute(forName: "points")?.stringValue ?? ""
            for pair in points.split(separator: " ") {
                let xy = pair.split(separator: ",").compactMap { Double($0) }
                XCTAssertEqual(xy.count, 2)
                XCTAssertTrue(xy[0] >= LossPlot.left - 0.1 && xy[0] <= LossPlot.width - LossPlot.right + 0.1, "\(xy)")
                XCTAssertTrue(xy[1] >= LossPlot.top - 0.1 && xy[1] <= LossPlot.height - LossPlot.bottom + 0.1, "\(xy)")
            }
        }
    }

    func testRedrawWritesAtomicallyAndRejectsEmptyLog() throws {
        let metrics = directory.appendingPathComponent("metrics.jsonl").path
        let svg = directory.appendingPathComponent("loss.svg").path
        try "".write(toFile: metrics, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try LossPlot.redraw(metricsPath: metrics, svgPath: svg)) { error in
            XCTAssertEqual("\(error)", "\(metrics): no metrics records to plot")
        }
        try "{\"iter\":0,\"loss\":4.0,\"lr\":0.001}\n{\"iter\":1,\"loss\":3.9,\"lr\":0.001}\n{\"iter\":2,\"lo".write(toFile: metrics, atomically: true, encoding: .utf8)
        try LossPlot.redraw(metricsPath: metrics, svgPath: svg)
        XCTAssertTrue(FileManager.default.fileExists(atPath: svg))
        XCTAssertFalse(FileManager.default.fileExists(atPath: svg + ".tmp"))
        XCTAssertNoThrow(try XMLDocument(contentsOf: URL(fileURLWithPath: svg)))
    }

    func testTicksAndProgressFormatting() {
        XCTAssertEqual(LossPlot.ticks(0...2000), [0, 500, 1000, 1500, 2000])
        XCTAssertEqual(LossPlot.ticks(1.4...4.3), [1.5, 2, 2.5, 3, 3.5, 4])
        let line = Progress.format(.init(iteration: 120, total: 2000, loss: 2.34567, lr: 1e-3,
                                         tokensPerSecond: 18234, mfu: 0.412, eta: 92))
        XCTAssertEqual(line, "iter  120/2000 | loss 2.3457 | lr 1.00e-03 | 18.2k tok/s | MFU 41.2% | ETA 1m32s")
        XCTAssertEqual(Progress.duration(3725), "1h02m")
    }

    func testMFUCountsCausalAttention() {
        // The shakespeare_char model (0.80M parameters, L=4, H=4, C=128, T=64): nanoGPT's
        // estimate_mfu, with attention's T×T square counted as the causal half it is.
        let estimate = FlopsEstimate(parameters: 795_648, layers: 4, heads: 4, embedding: 128, blockSize: 64)
        // 6 FLOPs per parameter, and attention's causal half of nanoGPT's 12·L·H·hs·T.
        let expected: Double = 6 * 795_648 + 6 * 4 * 4 * 32 * 64
        XCTAssertEqual(estimate.flopsPerToken, expected)
        XCTAssertEqual(estimate.mfu(tokens: 768, seconds: 0.1, peakFlops: 1e11), estimate.flopsPerToken * 768 / 0.1 / 1e11, accuracy: 1e-12)
    }
}

/// The one peak measurement behind training's and bench's MFU.
final class PeakFlopsTests: XCTestCase {
    func testPeakIsMeasuredAndLeavesOpenBLASThreadsAlone() {
        let before = openblas_get_num_threads()
        let peak = PeakFlops.measure(threads: 2, n: 128, seconds: 0.01)
        XCTAssertGreaterThan(peak, 1e8, "any CPU multiplies 128² matrices faster than 0.1 GFLOP/s")
        XCTAssertLessThan(peak, 1e14)
        XCTAssertEqual(openblas_get_num_threads(), before)
    }
}
