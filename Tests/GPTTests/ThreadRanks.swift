import Foundation
import Parallel

/// `size` ranks as threads of this process, joined by `ThreadCommunicator`s: what code written
/// against `Communicator` does under `mpirun -np size`, in one test process. Every collective is
/// an exchange of every rank's buffer; each rank then computes its result from all of them.
final class ThreadRanks: @unchecked Sendable {
    let size: Int
    private let condition = NSCondition()
    private var pending: [Any?]
    private var arrived = 0
    private var generation = 0
    private var completed: [Int: (values: [Any], readers: Int)] = [:]

    init(size: Int) {
        self.size = size
        pending = Array(repeating: nil, count: size)
    }

    /// Runs `body` on `size` threads, one per rank, and returns each rank's outcome in rank order.
    static func run<T>(size: Int, _ body: @escaping (ThreadCommunicator) throws -> T) -> [Result<T, Error>] {
        let ranks = ThreadRanks(size: size)
        let results = Outcomes<T>(count: size)
        let done = DispatchGroup()
        for rank in 0..<size {
            done.enter()
            let thread = Thread {
                results.set(rank, Result { try body(ThreadCommunicator(rank: rank, ranks: ranks)) })
                done.leave()
            }
            thread.stackSize = 8 << 20
            thread.start()
        }
        done.wait()
        return results.values.map { $0! }
    }

    private var mailboxes: [[Int]: [Any]] = [:]

    /// Queues `value` for rank `to` (point-to-point: only the two ranks take part).
    func post(_ value: Any, from: Int, to: Int) {
        condition.lock()
        mailboxes[[from, to], default: []].append(value)
        condition.broadcast()
        condition.unlock()
    }

    /// Takes the oldest value rank `from` posted to rank `to`, waiting for one.
    func take(from: Int, to: Int) -> Any {
        condition.lock()
        defer { condition.unlock() }
        while mailboxes[[from, to]]?.isEmpty ?? true { condition.wait() }
        return mailboxes[[from, to]]!.removeFirst()
    }

    /// Every rank hands in `value`; returns every rank's value, in rank order.
    func exchange(_ value: Any, rank: Int) -> [Any] {
        condition.lock()
        defer { condition.unlock() }
        let round = generation
        pending[rank] = value
        arrived += 1
        if arrived == size {
            completed[round] = (pending.map { $0! }, 0)
            pending = Array(repeating: nil, count: size)
            arrived = 0
            generation += 1
            condition.broadcast()
        } else {
            while completed[round] == nil { condition.wait() }
        }
        var entry = completed[round]!
        entry.readers += 1
        completed[round] = entry.readers == size ? nil : entry
        return entry.values
    }
}

/// One slot per rank for the outcome of its thread.
private final class Outcomes<T>: @unchecked Sendable {
    private let lock = NSLock()
    private(set) var values: [Result<T, Error>?]
    init(count: Int) { values = Array(repeating: nil, count: count) }
    func set(_ i: Int, _ value: Result<T, Error>) { lock.lock(); values[i] = value; lock.unlock() }
}

/// One rank of a `ThreadRanks` group.
final class ThreadCommunicator: Communicator, @unchecked Sendable {
    let rank: Int
    private let ranks: ThreadRanks
    var size: Int { ranks.size }
    var localRank: Int { rank }
    var localSize: Int { ranks.size }
    var usesMPI: Bool { false }

    init(rank: Int, ranks: ThreadRanks) {
        self.rank = rank
        self.ranks = ranks
    }

    private func gather<T>(_ buffer: UnsafeBufferPointer<T>) -> [[T]] {
        ranks.exchange(Array(buffer), rank: rank).map { $0 as! [T] }
    }

    private func reduce<T: CollectiveElement>(_ all: [[T]], _ range: Range<Int>, op: ReductionOp) -> [T] {
        var result = Array(all[0][range])
        for other in all.dropFirst() {
            for (i, j) in zip(result.indices, range) {
                switch op {
                case .sum, .average: result[i] += other[j]
                case .max: result[i] = Swift.max(result[i], other[j])
                case .min: result[i] = Swift.min(result[i], other[j])
                }
            }
        }
        if op == .average { result.withUnsafeMutableBufferPointer { T.divide($0, by: size) } }
        return result
    }

    func barrier() throws { _ = ranks.exchange(0, rank: rank) }

    func broadcast<T: CollectiveElement>(_ buffer: UnsafeMutableBufferPointer<T>, root: Int) throws {
        let all = gather(UnsafeBufferPointer(buffer))
        guard all[root].count == buffer.count else {
            throw CollectiveUsageError(operation: "broadcast", problem: "count \(buffer.count) differs from root's \(all[root].count)")
        }
        for i in buffer.indices { buffer[i] = all[root][i] }
    }

    func allreduce<T: CollectiveElement>(_ buffer: UnsafeMutableBufferPointer<T>, op: ReductionOp) throws {
        let result = reduce(gather(UnsafeBufferPointer(buffer)), 0..<buffer.count, op: op)
        for i in buffer.indices { buffer[i] = result[i] }
    }

    func startAllreduce<T: CollectiveElement>(_ buffer: UnsafeMutableBufferPointer<T>,
                                              op: ReductionOp) throws -> CollectiveRequest {
        try allreduce(buffer, op: op)
        return FinishedRequest()
    }

    func reduceScatter<T: CollectiveElement>(_ input: UnsafeBufferPointer<T>, into output: UnsafeMutableBufferPointer<T>,
                                             op: ReductionOp) throws {
        let n = output.count
        let result = reduce(gather(input), (rank * n)..<((rank + 1) * n), op: op)
        for i in output.indices { output[i] = result[i] }
    }

    func allgather<T: CollectiveElement>(_ input: UnsafeBufferPointer<T>, into output: UnsafeMutableBufferPointer<T>) throws {
        let all = gather(input).flatMap { $0 }
        guard all.count == output.count else {
            throw CollectiveUsageError(operation: "allgather", problem: "output has \(output.count) elements, expected \(all.count)")
        }
        for i in output.indices { output[i] = all[i] }
    }

    func reduceScatter<T: CollectiveElement>(_ input: UnsafeBufferPointer<T>, into output: UnsafeMutableBufferPointer<T>,
                                             counts: [Int], op: ReductionOp) throws {
        let start = counts[..<rank].reduce(0, +)
        let result = reduce(gather(input), start..<(start + counts[rank]), op: op)
        for i in output.indices { output[i] = result[i] }
    }

    func allgather<T: CollectiveElement>(inPlace buffer: UnsafeMutableBufferPointer<T>, counts: [Int]) throws {
        let all = gather(UnsafeBufferPointer(buffer))
        var start = 0
        for (r, count) in counts.enumerated() {
            for i in start..<(start + count) { buffer[i] = all[r][i] }
            start += count
        }
    }

    /// The ring collectives at once (blocking), summing in rank order; `wire` only rounds an
    /// allreduce's bfloat16 result as the ring would.
    func startReduceScatter(inPlace buffer: UnsafeMutableBufferPointer<Float>, counts: [Int],
                            wire: WireFormat) throws -> CollectiveRequest {
        let start = counts[..<rank].reduce(0, +)
        let result = reduce(gather(UnsafeBufferPointer(buffer)), start..<(start + counts[rank]), op: .sum)
        for (i, value) in result.enumerated() { buffer[start + i] = value }
        return FinishedRequest()
    }

    func startAllgather(inPlace buffer: UnsafeMutableBufferPointer<Float>, counts: [Int]) throws -> CollectiveRequest {
        try allgather(inPlace: buffer, counts: counts)
        return FinishedRequest()
    }

    func startAllreduce(inPlace buffer: UnsafeMutableBufferPointer<Float>, counts: [Int],
                        wire: WireFormat) throws -> CollectiveRequest {
        try allreduce(buffer, op: .sum)
        if wire == .bfloat16 {
            for i in buffer.indices { buffer[i] = Float(bitPattern: (buffer[i].bitPattern &+ 0x7FFF &+ ((buffer[i].bitPattern >> 16) & 1)) & 0xFFFF_0000) }
        }
        return FinishedRequest()
    }

    func send<T: CollectiveElement>(_ buffer: UnsafeBufferPointer<T>, to destination: Int) throws {
        ranks.post(Array(buffer), from: rank, to: destination)
    }

    func receive<T: CollectiveElement>(_ buffer: UnsafeMutableBufferPointer<T>, from source: Int) throws {
        let values = ranks.take(from: source, to: rank) as! [T]
        guard values.count == buffer.count else {
            throw CollectiveUsageError(operation: "receive", problem: "\(values.count) elements sent, \(buffer.count) expected")
        }
        for i in buffer.indices { buffer[i] = values[i] }
    }

    func abort(code: Int32) -> Never { fatalError("rank \(rank) aborted the threaded job with code \(code)") }
}

private final class FinishedRequest: CollectiveRequest {
    func test() throws -> Bool { true }
    func wait() throws {}
}
