import Foundation

/// Cross-entropy of logits against integer targets, where target -1 marks a position to ignore
/// (`F.cross_entropy(..., ignore_index=-1)`, mean over the counted positions).
enum CrossEntropy {
    /// Saves each row's log-sum-exp into `lse` and returns the summed loss over non-ignored rows
    /// and how many there were. `partials` is scratch of `splitter.threads` doubles.
    static func forward(logits: UnsafePointer<Float>, targets: UnsafePointer<Int32>, lse: FloatPointer,
                        rows: Int, vocab v: Int, partials: UnsafeMutablePointer<Double>,
                        splitter: WorkSplitter) -> (sum: Double, count: Int) {
        let chunks = splitter.chunks(rows, costPerItem: 4 * v)
        var counts = 0
        for r in 0..<rows where targets[r] >= 0 { counts += 1 }
        partials.update(repeating: 0, count: chunks)
        splitter.run(rows, costPerItem: 4 * v) { range, chunk in
            var total = 0.0
            for r in range {
                let row = logits + r &* v
                let value = logSumExp(row, count: v)
                lse[r] = value
                let target = Int(targets[r])
                if target >= 0 { total += Double(value - row[target]) }
            }
            partials[chunk] = total
        }
        var sum = 0.0
        for chunk in 0..<chunks { sum += partials[chunk] }
        return (sum, counts)
    }

    /// Overwrites `logits` with `scale · d(loss sum)/d(logits)`: `scale · (softmax - onehot)`
    /// on counted rows, 0 on ignored rows.
    static func backward(logits: FloatPointer, targets: UnsafePointer<Int32>, lse: UnsafePointer<Float>,
                         rows: Int, vocab v: Int, scale: Float, splitter: WorkSplitter) {
        splitter.run(rows, costPerItem: 4 * v) { range, _ in
            let v8 = v & ~7
            for r in range {
                let row = logits + r &* v
                let target = Int(targets[r])
                if target < 0 {
                    row.update(repeating: 0, count: v)
                    continue
                }
                let m = Vec8(repeating: lse[r]), s = Vec8(repeating: scale)
                var i = 0
                while i < v8 { store8(exp8(load8(row + i) - m) * s, row + i); i &+= 8 }
                if i < v {
                    var tail = Vec8.zero
                    for j in 0..<(v - i) { tail[j] = row[i + j] }
                    let e = exp8(tail - m) * s
                    for j in 0..<(v - i) { row[i + j] = e[j] }
                }
                row[target] -= scale
            }
        }
    }

    /// log Σ exp(row), stable.
    @inline(__always)
    static func logSumExp(_ row: UnsafePointer<Float>, count v: Int) -> Float {
        let v8 = v & ~7
        let maxv = rowMax(row, count: v)
        let m = Vec8(repeating: maxv)
        var acc = Vec8.zero
        var i = 0
        while i < v8 { acc += exp8(load8(row + i) - m); i &+= 8 }
        var sum = acc.sum()
        if i < v {
            var tail = Vec8(repeating: -Float.infinity)
            for j in 0..<(v - i) { tail[j] = row[i + j] }
            let e = exp8(tail - m)
            for j in 0..<(v - i) { sum += e[j] }
        }
        return maxv + logf(sum)
    }
}
