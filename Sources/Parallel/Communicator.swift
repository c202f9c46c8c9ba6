/// How `allreduce` and `reduceScatter` combine the ranks' values element by element.
public enum ReductionOp: String, CaseIterable, Sendable {
    /// The sum over ranks.
    case sum
    /// The sum over ranks divided by the number of ranks (the mean). For floating-point elements
    /// the sum is divided by `size` afterwards, each element rounded once; for integers the
    /// division truncates toward zero.
    case average
    /// The largest value over ranks.
    case max
    /// The smallest value over ranks.
    case min
}

/// A group of ranks that move buffers of numbers between them: the collective layer the trainer
/// talks to. `MPICommunicator` runs over Open MPI; `LocalCommunicator` is the single-process
/// stand-in with the same semantics that never touches MPI. Get the process-wide one with
/// `World.communicator()`.
///
/// Every method is collective: every rank must call it, in the same order, with matching element
/// types and counts. Calls must not overlap from several threads at once (MPI's
/// `MPI_THREAD_SERIALIZED`), except `PeerChannel`'s. Buffers are used in place, without copies.
public protocol Communicator: AnyObject, Sendable {
    /// This process's rank, `0..<size`.
    var rank: Int { get }
    /// The number of ranks.
    var size: Int { get }
    /// This process's rank among the ranks on the same node, `0..<localSize`.
    var localRank: Int { get }
    /// The number of ranks on this node (share its cores when choosing threads per rank).
    var localSize: Int { get }
    /// True when this communicator runs over MPI (false for `LocalCommunicator`).
    var usesMPI: Bool { get }

    /// Returns once every rank has called it.
    func barrier() throws

    /// Replaces `buffer` on every rank with `root`'s `buffer`. Every rank passes the same count.
    func broadcast<T: CollectiveElement>(_ buffer: UnsafeMutableBufferPointer<T>, root: Int) throws

    /// Replaces `buffer` on every rank with the element-wise reduction over ranks (in place).
    func allreduce<T: CollectiveElement>(_ buffer: UnsafeMutableBufferPointer<T>, op: ReductionOp) throws

    /// Starts an in-place allreduce (`MPI_Iallreduce`) and returns at once. `buffer` must stay
    /// allocated and must not be read or written until the request's `wait()` returns (or
    /// `test()` returns true). Open MPI moves data mostly inside MPI calls, so calling `test()`
    /// now and then while computing is what makes the transfer overlap the computation.
    func startAllreduce<T: CollectiveElement>(_ buffer: UnsafeMutableBufferPointer<T>,
                                              op: ReductionOp) throws -> CollectiveRequest

    /// Reduce-scatter (`MPI_Reduce_scatter_block`): `input` holds `size` blocks of `n` elements
    /// (`input.count == size * output.count`); block `r` is reduced element-wise over all ranks
    /// and the result lands in `output` (n elements) on rank `r`. `output` must not overlap `input`.
    func reduceScatter<T: CollectiveElement>(_ input: UnsafeBufferPointer<T>,
                                             into output: UnsafeMutableBufferPointer<T>,
                                             op: ReductionOp) throws

    /// Allgather: every rank contributes `input` (n elements, the same n on every rank) and
    /// receives in `output` (`size * n` elements) all contributions in rank order: rank `r`'s
    /// input at `output[r*n ..< (r+1)*n]`. `input` must not overlap `output`.
    func allgather<T: CollectiveElement>(_ input: UnsafeBufferPointer<T>,
                                         into output: UnsafeMutableBufferPointer<T>) throws

    /// Reduce-scatter with per-rank block sizes (`MPI_Reduce_scatter`): `input` holds the blocks of
    /// every rank one after another (`input.count == counts.reduce(0, +)`, `counts.count == size`);
    /// block `r` (`counts[r]` elements starting at the sum of the counts before it) is reduced
    /// element-wise over all ranks and the result lands in `output` (`output.count == counts[rank]`)
    /// on rank `r`. Every rank passes the same `counts`; a count may be zero. `.average` divides
    /// the sum by `size` like `allreduce`. `output` must not overlap `input`.
    func reduceScatter<T: CollectiveElement>(_ input: UnsafeBufferPointer<T>,
                                             into output: UnsafeMutableBufferPointer<T>,
                                             counts: [Int], op: ReductionOp) throws

    /// In-place allgather with per-rank block sizes (`MPI_Allgatherv` with `MPI_IN_PLACE`): `buffer`
    /// holds every rank's block one after another (`buffer.count == counts.reduce(0, +)`,
    /// `counts.count == size`); each rank's own block is its contribution, and afterwards every
    /// rank's `buffer` holds all blocks. Every rank passes the same `counts`; a count may be zero.
    func allgather<T: CollectiveElement>(inPlace buffer: UnsafeMutableBufferPointer<T>, counts: [Int]) throws

    /// Starts a ring reduce-scatter of Float32 blocks in place and returns at once: `buffer`
    /// holds every rank's block one after another (`counts`, one per rank, the same on every
    /// rank); when the request completes, rank `r`'s block holds the sum over ranks of that
    /// block (the other blocks hold partial sums). `wire` `.bfloat16` sends half the bytes and
    /// adds what arrives in Float32. `buffer` must not be touched until the request completes;
    /// operations started on every rank in the same order may be in flight together, and
    /// progress while the caller computes (see `RingEngine`).
    func startReduceScatter(inPlace buffer: UnsafeMutableBufferPointer<Float>, counts: [Int],
                            wire: WireFormat) throws -> CollectiveRequest

    /// Starts a ring allgather of Float32 blocks in place (Float32 on the wire): each rank's own
    /// block (`counts` as in `startReduceScatter`) reaches every rank.
    func startAllgather(inPlace buffer: UnsafeMutableBufferPointer<Float>, counts: [Int]) throws -> CollectiveRequest

    /// Starts a ring allreduce (sum) of Float32 values in place: a reduce-scatter over the blocks
    /// `counts` followed by an allgather. With `.bfloat16` every rank ends with the same values,
    /// each sum rounded once to bfloat16.
    func startAllreduce(inPlace buffer: UnsafeMutableBufferPointer<Float>, counts: [Int],
                        wire: WireFormat) throws -> CollectiveRequest

    /// Sends `buffer` to rank `destination` (`MPI_Send`); the peer calls `receive` with the same count.
    func send<T: CollectiveElement>(_ buffer: UnsafeBufferPointer<T>, to destination: Int) throws

    /// Receives `buffer.count` elements from rank `source` into `buffer` (`MPI_Recv`).
    func receive<T: CollectiveElement>(_ buffer: UnsafeMutableBufferPointer<T>, from source: Int) throws

    /// Ends every rank of the job at once with `code` (`MPI_Abort`); for a rank that fails on
    /// its own, where waiting for the others would hang them in their next collective.
    func abort(code: Int32) -> Never

    /// Makes the side channel on which ranks ask each other what they are doing (collective:
    /// every rank calls it at the same point). Nil with one rank, and where MPI does not provide
    /// `MPI_THREAD_MULTIPLE`.
    func makePeerChannel() throws -> PeerChannel?
}

extension Communicator {
    /// No side channel (one rank, or a communicator without one).
    public func makePeerChannel() throws -> PeerChannel? { nil }
}

/// An operation started by `Communicator.startAllreduce`.
public protocol CollectiveRequest: AnyObject {
    /// True when the operation has finished and its buffer holds the result; never blocks.
    func test() throws -> Bool
    /// Blocks until the operation has finished and its buffer holds the result. Calling it again
    /// after completion returns at once.
    func wait() throws
}

// MARK: - Conveniences over arrays and single values

extension Communicator {
    /// Allreduce of an array in place.
    public func allreduce<T: CollectiveElement>(_ array: inout [T], op: ReductionOp) throws {
        try array.withUnsafeMutableBufferPointer { try allreduce($0, op: op) }
    }

    /// Allreduce of one value; returns the reduction over ranks.
    public func allreduce<T: CollectiveElement>(_ value: T, op: ReductionOp) throws -> T {
        var array = [value]
        try allreduce(&array, op: op)
        return array[0]
    }

    /// Broadcast of an array in place; every rank's array must have root's count.
    public func broadcast<T: CollectiveElement>(_ array: inout [T], root: Int) throws {
        try array.withUnsafeMutableBufferPointer { try broadcast($0, root: root) }
    }

    /// Reduce-scatter of an array of `size * n` elements; returns this rank's reduced block of n.
    public func reduceScatter<T: CollectiveElement>(_ input: [T], op: ReductionOp) throws -> [T] {
        guard input.count % size == 0 else {
            throw CollectiveUsageError(operation: "reduceScatter",
                                       problem: "input has \(input.count) elements, not a multiple of \(size) ranks")
        }
        var output = [T](repeating: .zero, count: input.count / size)
        try input.withUnsafeBufferPointer { inBuffer in
            try output.withUnsafeMutableBufferPointer { try reduceScatter(inBuffer, into: $0, op: op) }
        }
        return output
    }

    /// Allgather of an array (the same count on every rank); returns all ranks' arrays concatenated
    /// in rank order.
    public func allgather<T: CollectiveElement>(_ input: [T]) throws -> [T] {
        var output = [T](repeating: .zero, count: input.count * size)
        try input.withUnsafeBufferPointer { inBuffer in
            try output.withUnsafeMutableBufferPointer { try allgather(inBuffer, into: $0) }
        }
        return output
    }
}
