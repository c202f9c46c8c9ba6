import CBLAS
import Dispatch
import Foundation

/// This process's sgemm peak, measured: the one denominator of the MFU that training and
/// `gpt-dist bench` report. (nanoGPT divides by an A100's 312 TFLOPS; on a CPU the honest
/// reference is what OpenBLAS reaches on these cores with this process's threads.)
///
/// A step runs its products in one of two ways: a batch split across threads runs one
/// single-threaded sgemm per thread at once, a batch of one sequence runs multi-threaded sgemms.
/// The peak is the best of both, so that no step's products can run faster than it.
public enum PeakFlops {
    /// Best FLOP/s of square single-precision products of side `n` on `threads` threads, over
    /// about `seconds` per way of running them: one product on `threads` OpenBLAS threads, and
    /// (with more than one thread) `threads` concurrent single-threaded products. OpenBLAS's
    /// thread count is left as it was found.
    public static func measure(threads: Int, n: Int = 1024, seconds: Double = 0.2) -> Double {
        let threads = max(1, threads)
        let flops = 2 * Double(n) * Double(n) * Double(n)
        let lanes = threads > 1 ? threads : 1
        let a = UnsafeMutableBufferPointer<Float>.allocate(capacity: lanes * n * n)
        let b = UnsafeMutableBufferPointer<Float>.allocate(capacity: lanes * n * n)
        let c = UnsafeMutableBufferPointer<Float>.allocate(capacity: lanes * n * n)
        a.initialize(repeating: 0.5); b.initialize(repeating: 0.25); c.initialize(repeating: 0)
        defer { a.deallocate(); b.deallocate(); c.deallocate() }
        func product(_ lane: Int) {
            let o = lane * n * n
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(n), Int32(n), Int32(n), 1,
                        a.baseAddress! + o, Int32(n), b.baseAddress! + o, Int32(n), 0, c.baseAddress! + o, Int32(n))
        }
        /// Best rate of `round` (which does `work` FLOPs) over about `seconds`, the first run a warm-up.
        func best(work: Double, _ round: () -> Void) -> Double {
            var rate = 0.0, runs = 0
            let deadline = Date().addingTimeInterval(seconds)
            repeat {
                let start = DispatchTime.now().uptimeNanoseconds
                round()
                let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
                if runs > 0 { rate = max(rate, work / elapsed) }
                runs += 1
            } while Date() < deadline || runs < 3
            return rate
        }
        let saved = openblas_get_num_threads()
        defer { openblas_set_num_threads(saved) }
        openblas_set_num_threads(Int32(threads))
        var peak = best(work: flops) { product(0) }
        if threads > 1 {
            openblas_set_num_threads(1)
            peak = max(peak, best(work: flops * Double(threads)) {
                DispatchQueue.concurrentPerform(iterations: threads) { product($0) }
            })
        }
        return peak
    }
}
