import ArgumentParser
import Foundation
import GPT

/// `gpt-dist plot OUT_DIR`: redraws OUT_DIR/loss.svg from OUT_DIR/metrics.jsonl.
struct Plot: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Draw the loss curves of a run (OUT_DIR/metrics.jsonl) to OUT_DIR/loss.svg.")

    @Argument(help: "The run's out_dir (holds metrics.jsonl).")
    var outDir: String

    @Option(help: "Where to write the SVG (default: OUT_DIR/loss.svg).")
    var output: String?

    func run() throws {
        let metrics = (outDir as NSString).appendingPathComponent("metrics.jsonl")
        let svg = output ?? (outDir as NSString).appendingPathComponent("loss.svg")
        try LossPlot.redraw(metricsPath: metrics, svgPath: svg, title: "loss: \(outDir)")
        print("wrote \(svg)")
    }
}
