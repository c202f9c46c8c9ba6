import Dispatch

/// Splits loops over rows across threads with `DispatchQueue.concurrentPerform`, but only when a
/// loop has enough work to pay for waking the threads (a few microseconds each).
struct WorkSplitter {
    /// Most chunks a loop is split into.
    let threads: Int
    /// Least work (in element operations) worth giving a thread of its own.
    let grain: Int

    init(threads: Int, grain: Int = 32_768) {
        self.threads = max(1, threads)
        self.grain = grain
    }

    /// Number of chunks `run` would use for `count` items of `costPerItem` each.
    func chunks(_ count: Int, costPerItem: Int) -> Int {
        let byWork = (count * max(costPerItem, 1)) / grain
        return max(1, min(threads, byWork, count))
    }

    /// Calls `body(range, chunk)` for contiguous ranges covering `0..<count`, in parallel when
    /// worth it. `chunk` is in `0..<threads` and unique among concurrent calls, so it can index
    /// per-thread scratch space.
    @inline(__always)
    func run(_ count: Int, costPerItem: Int, _ body: (Range<Int>, Int) -> Void) {
        let n = chunks(count, costPerItem: costPerItem)
        if n <= 1 {
            if count > 0 { body(0..<count, 0) }
            return
        }
        DispatchQueue.concurrentPerform(iterations: n) { chunk in
            let start = count * chunk / n
            let end = count * (chunk + 1) / n
            body(start..<end, chunk)
        }
    }
}
