import Foundation

/// The live progress line of a training run: rewritten in place with `\r` on a terminal, one
/// plain line per update otherwise (log files, CI). Only rank 0 makes one.
public final class Progress {
    /// What one update shows.
    public struct Status: Sendable {
        public var iteration: Int
        public var total: Int
        public var loss: Double
        public var lr: Double
        public var tokensPerSecond: Double
        public var mfu: Double
        /// Seconds left, or nil while unknown.
        public var eta: Double?

        public init(iteration: Int, total: Int, loss: Double, lr: Double, tokensPerSecond: Double,
                    mfu: Double, eta: Double?) {
            self.iteration = iteration
            self.total = total
            self.loss = loss
            self.lr = lr
            self.tokensPerSecond = tokensPerSecond
            self.mfu = mfu
            self.eta = eta
        }
    }

    private let isTerminal: Bool
    private let output: FileHandle
    /// True while the last thing written is an unfinished `\r` line.
    private var lineOpen = false

    /// - Parameter isTerminal: nil asks the system whether standard output is a terminal.
    public init(output: FileHandle = .standardOutput, isTerminal: Bool? = nil) {
        self.output = output
        self.isTerminal = isTerminal ?? (isatty(output.fileDescriptor) == 1)
    }

    /// Shows `status`: in place on a terminal, as a new line otherwise.
    public func update(_ status: Status) {
        let line = Progress.format(status)
        if isTerminal {
            write("\r" + line + "\u{1B}[K")
            lineOpen = true
        } else {
            write(line + "\n")
        }
    }

    /// Prints a line of its own (an eval result, a checkpoint notice) below the live line.
    public func message(_ text: String) {
        if lineOpen { write("\n"); lineOpen = false }
        write(text + "\n")
    }

    /// Ends the live line so that what follows starts on a new one.
    public func finish() {
        if lineOpen { write("\n"); lineOpen = false }
    }

    private func write(_ text: String) {
        try? output.write(contentsOf: Data(text.utf8))
    }

    /// `iter 120/2000 | loss 2.3456 | lr 1.00e-03 | 18.2k tok/s | MFU 41.2% | ETA 1m32s`
    public static func format(_ s: Status) -> String {
        let width = String(s.total).count
        let iteration = String(repeating: " ", count: max(0, width - String(s.iteration).count)) + String(s.iteration)
        var parts = ["iter \(iteration)/\(s.total)",
                     "loss " + (s.loss.isFinite ? String(format: "%.4f", s.loss) : "\(s.loss)"),
                     "lr " + String(format: "%.2e", s.lr),
                     "\(count(s.tokensPerSecond)) tok/s"]
        if s.mfu.isFinite { parts.append(String(format: "MFU %.1f%%", s.mfu * 100)) }
        parts.append("ETA " + (s.eta.map(duration) ?? "--"))
        return parts.joined(separator: " | ")
    }

    /// 18234 → "18.2k".
    static func count(_ value: Double) -> String {
        guard value.isFinite else { return "--" }
        if value >= 1e6 { return String(format: "%.2fM", value / 1e6) }
        if value >= 1e4 { return String(format: "%.1fk", value / 1e3) }
        return String(format: "%.0f", value)
    }

    /// 92 → "1m32s", 3725 → "1h02m".
    public static func duration(_ seconds: Double) -> String {
        guard seconds.isFinite, seconds >= 0 else { return "--" }
        let s = Int(seconds.rounded())
        if s >= 3600 { return String(format: "%dh%02dm", s / 3600, (s % 3600) / 60) }
        if s >= 60 { return String(format: "%dm%02ds", s / 60, s % 60) }
        return "\(s)s"
    }
}
