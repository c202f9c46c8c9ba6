import Foundation

/// Draws the loss curves of a run as a self-contained SVG (no scripts, no external fonts):
/// the train loss of each log interval, and the train and val losses of each evaluation.
public enum LossPlot {
    /// One curve: a name for the legend, a colour, and its (iteration, loss) points.
    struct Series {
        var name: String
        var color: String
        var width: Double
        var points: [(x: Double, y: Double)]
    }

    static let width = 800.0, height = 480.0
    static let left = 70.0, right = 20.0, top = 40.0, bottom = 50.0

    /// The SVG text for `records` (as read from metrics.jsonl).
    public static func svg(records: [MetricsRecord], title: String = "loss") -> String {
        let finite = { (r: MetricsRecord, v: Double?) -> (Double, Double)? in
            guard let v, v.isFinite else { return nil }
            return (Double(r.iter), v)
        }
        let series = [
            Series(name: "train (batch)", color: "#9ecae1", width: 1,
                   points: records.filter { $0.event == .train }.compactMap { finite($0, $0.loss) }),
            Series(name: "train (eval)", color: "#1f77b4", width: 2,
                   points: records.filter { $0.event == .eval }.compactMap { finite($0, $0.loss) }),
            Series(name: "val (eval)", color: "#d62728", width: 2,
                   points: records.filter { $0.event == .eval }.compactMap { finite($0, $0.valLoss) }),
        ].filter { !$0.points.isEmpty }

        let xs = series.flatMap { $0.points.map(\.x) }, ys = series.flatMap { $0.points.map(\.y) }
        let xRange = axisRange(min: 0, max: xs.max() ?? 1)
        let yRange = axisRange(min: ys.min() ?? 0, max: ys.max() ?? 1)
        let plotW = width - left - right, plotH = height - top - bottom
        let x0 = xRange.lowerBound, xSpan = xRange.upperBound - xRange.lowerBound
        let y0 = yRange.lowerBound, ySpan = yRange.upperBound - yRange.lowerBound
        func px(_ x: Double) -> Double { left + (x - x0) / xSpan * plotW }
        func py(_ y: Double) -> Double {
            let fraction: Double = (y - y0) / ySpan
            return top + (1 - fraction) * plotH
        }

        var svg = """
        <?xml version="1.0" encoding="UTF-8"?>
        <svg xmlns="http://www.w3.org/2000/svg" width="\(f(width))" height="\(f(height))" viewBox="0 0 \(f(width)) \(f(height))" font-family="sans-serif" font-size="12">
        <rect x="0" y="0" width="\(f(width))" height="\(f(height))" fill="white"/>
        <text x="\(f(width / 2))" y="22" text-anchor="middle" font-size="15">\(escape(title))</text>

        """
        // Grid and ticks.
        for tick in ticks(xRange) {
            let x = px(tick)
            svg += "<line x1=\"\(f(x))\" y1=\"\(f(top))\" x2=\"\(f(x))\" y2=\"\(f(top + plotH))\" stroke=\"#eeeeee\"/>\n"
            svg += "<line x1=\"\(f(x))\" y1=\"\(f(top + plotH))\" x2=\"\(f(x))\" y2=\"\(f(top + plotH + 5))\" stroke=\"black\"/>\n"
            svg += "<text x=\"\(f(x))\" y=\"\(f(top + plotH + 19))\" text-anchor=\"middle\">\(label(tick))</text>\n"
        }
        for tick in ticks(yRange) {
            let y = py(tick)
            svg += "<line x1=\"\(f(left))\" y1=\"\(f(y))\" x2=\"\(f(left + plotW))\" y2=\"\(f(y))\" stroke=\"#eeeeee\"/>\n"
            svg += "<line x1=\"\(f(left - 5))\" y1=\"\(f(y))\" x2=\"\(f(left))\" y2=\"\(f(y))\" stroke=\"black\"/>\n"
            svg += "<text x=\"\(f(left - 8))\" y=\"\(f(y + 4))\" text-anchor=\"end\">\(label(tick))</text>\n"
        }
        // Axes and their names.
        svg += "<line x1=\"\(f(left))\" y1=\"\(f(top + plotH))\" x2=\"\(f(left + plotW))\" y2=\"\(f(top + plotH))\" stroke=\"black\"/>\n"
        svg += "<line x1=\"\(f(left))\" y1=\"\(f(top))\" x2=\"\(f(left))\" y2=\"\(f(top + plotH))\" stroke=\"black\"/>\n"
        svg += "<text x=\"\(f(left + plotW / 2))\" y=\"\(f(height - 10))\" text-anchor=\"middle\">iteration</text>\n"
        svg += "<text x=\"18\" y=\"\(f(top + plotH / 2))\" text-anchor=\"middle\" transform=\"rotate(-90 18 \(f(top + plotH / 2)))\">loss</text>\n"
        // Curves: a polyline each, or a dot when there is a single point.
        for s in series {
            if s.points.count == 1 {
                svg += "<circle cx=\"\(f(px(s.points[0].x)))\" cy=\"\(f(py(s.points[0].y)))\" r=\"3\" fill=\"\(s.color)\"/>\n"
            } else {
                let coordinates = s.points.map { "\(f(px($0.x))),\(f(py($0.y)))" }.joined(separator: " ")
                svg += "<polyline fill=\"none\" stroke=\"\(s.color)\" stroke-width=\"\(f(s.width))\" points=\"\(coordinates)\"/>\n"
            }
        }
        // Legend, top right inside the plot.
        let legendX = left + plotW - 130
        for (i, s) in series.enumerated() {
            let y = top + 14 + Double(i) * 18
            svg += "<line x1=\"\(f(legendX))\" y1=\"\(f(y - 4))\" x2=\"\(f(legendX + 22))\" y2=\"\(f(y - 4))\" stroke=\"\(s.color)\" stroke-width=\"\(f(max(2, s.width)))\"/>\n"
            svg += "<text x=\"\(f(legendX + 28))\" y=\"\(f(y))\">\(escape(s.name))</text>\n"
        }
        if series.isEmpty {
            svg += "<text x=\"\(f(width / 2))\" y=\"\(f(height / 2))\" text-anchor=\"middle\">no losses logged yet</text>\n"
        }
        svg += "</svg>\n"
        return svg
    }

    /// Redraws `svgPath` from the metrics file at `metricsPath`, atomically.
    public static func redraw(metricsPath: String, svgPath: String, title: String = "loss") throws {
        let records = try MetricsLog.read(path: metricsPath)
        guard !records.isEmpty else { throw MetricsError.noRecords(path: metricsPath) }
        try write(svg(records: records, title: title), to: svgPath)
    }

    /// Writes `text` to `path.tmp` and renames it over `path`, so a reader never sees half a plot.
    public static func write(_ text: String, to path: String) throws {
        let temporary = path + ".tmp"
        do {
            try Data(text.utf8).write(to: URL(fileURLWithPath: temporary))
            if rename(temporary, path) != 0 {
                throw MetricsError.cannotWrite(path: path, reason: String(cString: strerror(errno)))
            }
        } catch let error as MetricsError {
            throw error
        } catch {
            throw MetricsError.cannotWrite(path: path, reason: error.localizedDescription)
        }
    }

    // MARK: - Axes

    /// A range padded a little and never empty.
    static func axisRange(min lo: Double, max hi: Double) -> ClosedRange<Double> {
        if hi <= lo { return (lo - 0.5)...(lo + 0.5) }
        let pad = (hi - lo) * 0.04
        return (lo == 0 ? 0 : lo - pad)...(hi + pad)
    }

    /// 1-2-5 ticks, about six of them, inside `range`.
    static func ticks(_ range: ClosedRange<Double>) -> [Double] {
        let span = range.upperBound - range.lowerBound
        let rough = span / 6
        let magnitude = pow(10, floor(log10(rough)))
        let step = [1.0, 2.0, 5.0, 10.0].map { $0 * magnitude }.first { $0 >= rough } ?? 10 * magnitude
        var tick = ceil(range.lowerBound / step) * step
        var result: [Double] = []
        while tick <= range.upperBound + step * 1e-9 {
            result.append(abs(tick) < step * 1e-9 ? 0 : tick)
            tick += step
        }
        return result
    }

    static func label(_ value: Double) -> String {
        if value == value.rounded() && abs(value) < 1e6 { return String(Int(value)) }
        var text = String(format: "%.3f", value)
        while text.hasSuffix("0") { text.removeLast() }
        return text
    }

    static func f(_ value: Double) -> String { String(format: "%.1f", value) }

    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }
}
