import Foundation

/// Everything rank 0 shows and writes about a run: the live progress line, eval lines,
/// `out_dir/metrics.jsonl` and `out_dir/loss.svg`. Other ranks have none.
public final class TrainReporter {
    public let outDirectory: String
    let progress: Progress
    let metrics: MetricsLog
    /// No live progress line (eval lines and notices still print).
    let quiet: Bool

    /// Opens `out_dir/metrics.jsonl` for appending (creating `out_dir`).
    public init(outDirectory: String, progress: Progress = Progress(), quiet: Bool = false) throws {
        do {
            try FileManager.default.createDirectory(atPath: outDirectory, withIntermediateDirectories: true)
        } catch {
            throw MetricsError.cannotOpen(path: outDirectory, reason: "cannot create out_dir: \(error.localizedDescription)")
        }
        self.outDirectory = outDirectory
        self.progress = progress
        self.quiet = quiet
        metrics = try MetricsLog(path: (outDirectory as NSString).appendingPathComponent("metrics.jsonl"))
    }

    var metricsPath: String { metrics.path }
    var plotPath: String { (outDirectory as NSString).appendingPathComponent("loss.svg") }

    /// A line of its own (setup facts, eval results, checkpoint notices).
    public func message(_ text: String) {
        progress.message(text)
    }

    /// The live line, and a `train` record in metrics.jsonl.
    func logStep(_ status: Progress.Status, record: MetricsRecord) throws {
        if !quiet { progress.update(status) }
        try metrics.append(record)
    }

    /// A record of its own (a skipped update).
    func log(_ record: MetricsRecord) throws {
        try metrics.append(record)
    }

    /// An `eval` record, the eval line, and a redrawn plot.
    func logEval(_ record: MetricsRecord, trainLoss: Double, valLoss: Double) throws {
        message(String(format: "step %d: train loss %.4f, val loss %.4f", record.iter, trainLoss, valLoss))
        try metrics.append(record)
        try LossPlot.redraw(metricsPath: metricsPath, svgPath: plotPath, title: "loss: \(outDirectory)")
    }

    func finish() { progress.finish() }
}
