import Foundation

/// The ranges of a backward pass split across threads: every slice reports each range it has
/// finished; once all have, the slices' gradients of that range are summed and the range is
/// announced, ranges strictly in backward order (so every rank of a job announces the same
/// ranges in the same order, whichever thread finishes first). A slice may wait until a range is
/// summed (`waitUntilSummed`), which bounds how far it runs ahead of the slowest slice.
final class SliceProgress {
    /// The ranges in the order backward finishes them.
    let ranges: [Range<Int>]
    private var done: [Int]
    private var next = 0
    private var slices = 0
    private var sum: (Range<Int>) -> Void = { _ in }
    private var announce: (Range<Int>) -> Void = { _ in }
    private let lock = NSCondition()

    init(ranges: [Range<Int>]) {
        self.ranges = ranges
        done = Array(repeating: 0, count: ranges.count)
    }

    /// Starts a new backward of `slices` slices.
    func reset(slices: Int, announce: @escaping (Range<Int>) -> Void, sum: @escaping (Range<Int>) -> Void) {
        lock.lock()
        defer { lock.unlock() }
        for i in done.indices { done[i] = 0 }
        next = 0
        self.slices = slices
        self.announce = announce
        self.sum = sum
    }

    /// One slice finished range `index`; sums and announces every range that is now complete and
    /// next in order.
    func finished(_ index: Int) {
        lock.lock()
        defer { lock.unlock() }
        done[index] += 1
        while next < ranges.count && done[next] == slices {
            sum(ranges[next])
            announce(ranges[next])
            next += 1
        }
        lock.broadcast()
    }

    /// Blocks until range `index` (and every range before it) has been summed and announced;
    /// returns at once for a negative `index`. A slice that waits here for a range it has
    /// finished itself waits only for slower slices, so the slowest slice never waits.
    func waitUntilSummed(_ index: Int) {
        guard index >= 0 else { return }
        lock.lock()
        defer { lock.unlock() }
        while next <= index { lock.wait() }
    }

    /// Ends a backward: true when every range was summed and announced. Lets go of the closures
    /// (the listener may hold the model).
    func finish() -> Bool {
        lock.lock()
        defer { lock.unlock() }
        announce = { _ in }
        sum = { _ in }
        return next == ranges.count
    }
}
