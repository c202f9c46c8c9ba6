import Dispatch

/// `DispatchQueue.concurrentPerform` under a name the kernels share.
enum DispatchQueueBridge {
    @inline(__always)
    static func concurrentPerform(_ iterations: Int, _ body: (Int) -> Void) {
        DispatchQueue.concurrentPerform(iterations: iterations, execute: body)
    }
}
