import CBLAS
import Foundation

/// This process's sgemm peak, measured: the denominator of the MFU that training reports.
/// (nanoGPT divides by an A100's 312 TFLOPS; on a CPU the honest reference is what OpenBLAS
/// reaches on these cores with this process's threads.)
public enum PeakFlops {
    /// Best FLOP/s of square single-precision products of side `n` over about `seconds`, on the
    /// threads OpenBLAS is currently set to use.
    public static func measure(n: Int = 512, seconds: Double = 0.2) -> Double {
        let a = [Float](repeating: 0.5, count: n * n)
        let b = [Float](repeating: 0.25, count: n * n)
        var c = [Float](repeating: 0, count: n * n)
        let flops = 2 * Double(n) * Double(n) * Double(n)
        var best = 0.0
        let deadline = Date().addingTimeInterval(seconds)
        var runs = 0
        repeat {
            let start = DispatchTime.now().uptimeNanoseconds
            a.withUnsafeBufferPointer { pa in
                b.withUnsafeBufferPointer { pb in
                    c.withUnsafeMutableBufferPointer { pc in
                        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(n), Int32(n), Int32(n),
                                    1, pa.baseAddress, Int32(n), pb.baseAddress, Int32(n), 0, pc.baseAddress, Int32(n))
                    }
                }
            }
            let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            if runs > 0 { best = max(best, flops / elapsed) }  // the first run warms up
            runs += 1
        } while Date() < deadline || runs < 3
        return best
    }
}
