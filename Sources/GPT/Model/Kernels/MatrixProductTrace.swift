import CBLAS
import Dispatch
import Foundation

/// The sgemm calls of a stretch of model work, recorded with their shapes, operands and batch
/// slices so that they can be run again on their own: how long a step's matrix products take
/// without anything else, i.e. the part of the step that is OpenBLAS's and that no elementwise
/// kernel can win back. (`GPTModel.timeMatrixProducts(of:repeats:)` is the way in.)
///
/// Recording is off except inside `record`; `sgemm` checks one global flag per call.
final class MatrixProductTrace {
    struct Call {
        let transA: Bool, transB: Bool
        let m: Int, n: Int, k: Int
        let alpha: Float
        let a: UnsafePointer<Float>, lda: Int
        let b: UnsafePointer<Float>, ldb: Int
        let beta: Float
        let c: FloatPointer, ldc: Int
    }

    /// The calls of each batch slice in order; slices ran concurrently, one thread each.
    private(set) var lanes: [[Call]] = []
    /// Whether a call came from outside a batch slice (a batch run kernel by kernel on all
    /// threads), which a replay could not reproduce faithfully.
    private(set) var hasUnslicedCalls = false
    private let lock = NSLock()

    var callCount: Int { lanes.reduce(0) { $0 + $1.count } }
    /// 2·m·n·k summed over every call.
    var flops: Double { lanes.joined().reduce(0) { $0 + 2 * Double($1.m) * Double($1.n) * Double($1.k) } }

    /// Runs `work`, recording the sgemm calls it makes.
    static func record(_ work: () throws -> Void) rethrows -> MatrixProductTrace {
        let trace = MatrixProductTrace()
        precondition(recording == nil, "matrix product traces do not nest")
        recording = trace
        isRecordingMatrixProducts = true
        defer {
            isRecordingMatrixProducts = false
            recording = nil
        }
        try work()
        return trace
    }

    /// Runs `body` as batch slice `lane`: while recording, its calls are filed under that lane.
    @inline(__always)
    static func runAsLane(_ lane: Int, _ body: () -> Void) {
        guard _slowPath(isRecordingMatrixProducts) else { return body() }
        pthread_setspecific(laneKey, UnsafeRawPointer(bitPattern: lane + 1))
        defer { pthread_setspecific(laneKey, nil) }
        body()
    }

    static func note(_ call: Call) {
        guard let trace = recording else { return }
        let tag = Int(bitPattern: pthread_getspecific(laneKey))
        trace.lock.lock()
        defer { trace.lock.unlock() }
        guard tag > 0 else {
            trace.hasUnslicedCalls = true
            return
        }
        while trace.lanes.count < tag { trace.lanes.append([]) }
        trace.lanes[tag - 1].append(call)
    }

    /// Runs every recorded call again, each slice's calls in order on a thread of their own with
    /// single-threaded OpenBLAS (as the slices ran), and returns the wall time in seconds.
    /// Overwrites what the calls write (activations and gradients, never parameters).
    func replay() -> Double {
        let threads = openblas_get_num_threads()
        openblas_set_num_threads(1)
        defer { openblas_set_num_threads(threads) }
        let start = DispatchTime.now().uptimeNanoseconds
        DispatchQueue.concurrentPerform(iterations: lanes.count) { lane in
            for call in lanes[lane] {
                sgemm(transA: call.transA, transB: call.transB, m: call.m, n: call.n, k: call.k, alpha: call.alpha,
                      a: call.a, lda: call.lda, b: call.b, ldb: call.ldb, beta: call.beta, c: call.c, ldc: call.ldc)
            }
        }
        return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    }

    private static var recording: MatrixProductTrace?
    private static let laneKey: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key, nil)
        return key
    }()
}

/// Read by every `sgemm` call; true only inside `MatrixProductTrace.record`.
var isRecordingMatrixProducts = false
