import XCTest
@testable import GPT

/// The Linear product of inference (`rowProduct`): PyTorch's `x · Wᵀ + b` within float
/// tolerance, and every output element bit for bit the same whatever the other rows, the number
/// of rows and the threads (what lets a batched sequence decode exactly as it does alone).
final class ModelRowProductTests: XCTestCase {
    /// Shapes with k not a multiple of 8 and n not a multiple of 4 or of the tile.
    let shapes: [(k: Int, n: Int)] = [(8, 11), (13, 5), (64, 67), (130, 9), (384, 3), (5000, 6)]

    func random(_ count: Int, seed: UInt64) -> [Float] {
        var rng = RandomGenerator(seed: seed)
        return (0..<count).map { _ in rng.nextUniform() * 2 - 1 }
    }

    func product(_ x: [Float], _ w: [Float], _ b: [Float]?, rows: Int, k: Int, n: Int, threads: Int,
                 accumulate: [Float]? = nil) -> [Float] {
        var out = accumulate ?? [Float](repeating: .nan, count: rows * n)
        x.withUnsafeBufferPointer { xp in
            w.withUnsafeBufferPointer { wp in
                out.withUnsafeMutableBufferPointer { op in
                    let o = op.baseAddress!
                    let run = { (bias: UnsafePointer<Float>?) in
                        rowProduct(out: o, inp: xp.baseAddress!, weight: wp.baseAddress!, bias: bias,
                                   rows: rows, inFeatures: k, outFeatures: n, accumulate: accumulate != nil,
                                   splitter: WorkSplitter(threads: threads, grain: 1))
                    }
                    if let b { b.withUnsafeBufferPointer { run($0.baseAddress!) } } else { run(nil) }
                }
            }
        }
        return out
    }

    func testMatchesADoublePrecisionReference() {
        for (i, (k, n)) in shapes.enumerated() {
            let rows = 5
            let x = random(rows * k, seed: UInt64(10 + i)), w = random(n * k, seed: UInt64(20 + i)), b = random(n, seed: UInt64(30 + i))
            let got = product(x, w, b, rows: rows, k: k, n: n, threads: 2)
            let start = random(rows * n, seed: UInt64(40 + i))
            let added = product(x, w, nil, rows: rows, k: k, n: n, threads: 1, accumulate: start)
            for r in 0..<rows {
                for j in 0..<n {
                    var dot = 0.0
                    for t in 0..<k { dot += Double(x[r * k + t]) * Double(w[j * k + t]) }
                    let tolerance = 1e-5 * Double(k).squareRoot() + 1e-6
                    XCTAssertEqual(Double(got[r * n + j]), Double(b[j]) + dot, accuracy: tolerance, "k \(k) n \(n) (\(r), \(j))")
                    XCTAssertEqual(Double(added[r * n + j]), Double(start[r * n + j]) + dot, accuracy: tolerance,
                                   "accumulate: k \(k) n \(n) (\(r), \(j))")
                }
            }
        }
    }

    func testEachRowIsTheSameAloneOrAmongOthersOnAnyThreads() {
        for (i, (k, n)) in shapes.enumerated() {
            let rows = 7
            let x = random(rows * k, seed: UInt64(50 + i)), w = random(n * k, seed: UInt64(60 + i)), b = random(n, seed: UInt64(70 + i))
            let together = product(x, w, b, rows: rows, k: k, n: n, threads: 1)
            XCTAssertEqual(product(x, w, b, rows: rows, k: k, n: n, threads: 2), together, "k \(k) n \(n): 2 threads")
            XCTAssertEqual(product(x, w, b, rows: rows, k: k, n: n, threads: 3), together, "k \(k) n \(n): 3 threads")
            for r in 0..<rows {
                let alone = product(Array(x[(r * k)..<((r + 1) * k)]), w, b, rows: 1, k: k, n: n, threads: 1)
                XCTAssertEqual(alone, Array(together[(r * n)..<((r + 1) * n)]), "k \(k) n \(n): row \(r) alone")
            }
            // Rows 1...5 (odd start: the pairs fall differently) against the same rows among all.
            let middle = product(Array(x[k..<(6 * k)]), w, b, rows: 5, k: k, n: n, threads: 2)
            XCTAssertEqual(middle, Array(together[n..<(6 * n)]), "k \(k) n \(n): rows 1...5")
        }
    }
}
