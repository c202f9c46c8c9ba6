import CMPI
import Foundation

/// The world of an `mpirun`/`srun` job over Open MPI (`MPI_COMM_WORLD`). Errors return instead of
/// aborting (`MPI_ERRORS_RETURN`) and are thrown as `MPIError`. Buffers longer than
/// `maxElementsPerCall` (MPI counts are 32-bit) are moved in several calls.
public final class MPICommunicator: Communicator, @unchecked Sendable {
    private let comm: MPI_Comm
    public let rank: Int
    public let size: Int
    public let localRank: Int
    public let localSize: Int
    public var usesMPI: Bool { true }

    /// The most elements passed to one MPI call; longer buffers are split into several calls.
    /// `Int32.max` (MPI counts are C ints); lowered only to exercise the splitting in tests.
    public var maxElementsPerCall: Int = Int(Int32.max)

    /// Starts MPI if needed and wraps `MPI_COMM_WORLD`; ranks on this node are found with
    /// `MPI_Comm_split_type(MPI_COMM_TYPE_SHARED)`.
    init() throws {
        try MPIRuntime.initializeOnce()
        comm = cmpi_comm_world()
        try MPIRuntime.check(MPI_Comm_set_errhandler(comm, cmpi_errors_return()), "MPI_Comm_set_errhandler")
        var r: Int32 = 0, s: Int32 = 0
        try MPIRuntime.check(MPI_Comm_rank(comm, &r), "MPI_Comm_rank")
        try MPIRuntime.check(MPI_Comm_size(comm, &s), "MPI_Comm_size")
        rank = Int(r)
        size = Int(s)

        var node: MPI_Comm? = cmpi_comm_null()
        try MPIRuntime.check(MPI_Comm_split_type(comm, cmpi_comm_type_shared(), r, cmpi_info_null(), &node),
                             "MPI_Comm_split_type")
        var lr: Int32 = 0, ls: Int32 = 0
        try MPIRuntime.check(MPI_Comm_rank(node, &lr), "MPI_Comm_rank")
        try MPIRuntime.check(MPI_Comm_size(node, &ls), "MPI_Comm_size")
        try MPIRuntime.check(MPI_Comm_free(&node), "MPI_Comm_free")
        localRank = Int(lr)
        localSize = Int(ls)
    }

    public func barrier() throws {
        MPIRuntime.callLock.lock()
        defer { MPIRuntime.callLock.unlock() }
        try ensureRunning("MPI_Barrier")
        try MPIRuntime.check(MPI_Barrier(comm), "MPI_Barrier")
    }

    public func broadcast<T: CollectiveElement>(_ buffer: UnsafeMutableBufferPointer<T>, root: Int) throws {
        MPIRuntime.callLock.lock()
        defer { MPIRuntime.callLock.unlock() }
        try ensureRunning("MPI_Bcast")
        guard let base = buffer.baseAddress else { return }
        try forEachChunk(count: buffer.count) { offset, n in
            try MPIRuntime.check(MPI_Bcast(base + offset, n, T.collectiveDatatype.mpi, Int32(clamping: root), comm),
                                 "MPI_Bcast")
        }
    }

    public func allreduce<T: CollectiveElement>(_ buffer: UnsafeMutableBufferPointer<T>, op: ReductionOp) throws {
        MPIRuntime.callLock.lock()
        defer { MPIRuntime.callLock.unlock() }
        try ensureRunning("MPI_Allreduce")
        guard let base = buffer.baseAddress else { return }
        try forEachChunk(count: buffer.count) { offset, n in
            try MPIRuntime.check(MPI_Allreduce(UnsafeRawPointer(cmpi_in_place()), base + offset, n,
                                               T.collectiveDatatype.mpi, op.mpi, comm),
                                 "MPI_Allreduce")
        }
        if op == .average { T.divide(buffer, by: size) }
    }

    public func startAllreduce<T: CollectiveElement>(_ buffer: UnsafeMutableBufferPointer<T>,
                                                     op: ReductionOp) throws -> CollectiveRequest {
        MPIRuntime.callLock.lock()
        defer { MPIRuntime.callLock.unlock() }
        try ensureRunning("MPI_Iallreduce")
        guard let base = buffer.baseAddress else { return CompletedRequest() }
        var requests: [MPI_Request?] = []
        do {
            try forEachChunk(count: buffer.count) { offset, n in
                var request: MPI_Request? = cmpi_request_null()
                try MPIRuntime.check(MPI_Iallreduce(UnsafeRawPointer(cmpi_in_place()), base + offset, n,
                                                    T.collectiveDatatype.mpi, op.mpi, comm, &request),
                                     "MPI_Iallreduce")
                requests.append(request)
            }
        } catch {
            // Chunks already started must finish before the caller may touch the buffer again.
            _ = MPI_Waitall(Int32(requests.count), &requests, cmpi_statuses_ignore())
            throw error
        }
        let size = self.size
        return MPIRequest(requests: requests, finish: op == .average ? { T.divide(buffer, by: size) } : nil)
    }

    public func reduceScatter<T: CollectiveElement>(_ input: UnsafeBufferPointer<T>,
                                                    into output: UnsafeMutableBufferPointer<T>,
                                                    op: ReductionOp) throws {
        MPIRuntime.callLock.lock()
        defer { MPIRuntime.callLock.unlock() }
        try ensureRunning("MPI_Reduce_scatter_block")
        try CollectiveChecks.reduceScatter(inputCount: input.count, outputCount: output.count, size: size)
        guard let source = input.baseAddress, let target = output.baseAddress else { return }
        let n = output.count
        if n <= maxElementsPerCall {
            try MPIRuntime.check(MPI_Reduce_scatter_block(source, target, Int32(n), T.collectiveDatatype.mpi,
                                                          op.mpi, comm),
                                 "MPI_Reduce_scatter_block")
        } else {
            // Blocks too long for one call: reduce each rank's block to that rank, in chunks.
            for root in 0..<size {
                try forEachChunk(count: n) { offset, count in
                    try MPIRuntime.check(MPI_Reduce(source + root * n + offset, target + offset, count,
                                                    T.collectiveDatatype.mpi, op.mpi, Int32(root), comm),
                                         "MPI_Reduce")
                }
            }
        }
        if op == .average { T.divide(output, by: size) }
    }

    public func allgather<T: CollectiveElement>(_ input: UnsafeBufferPointer<T>,
                                                into output: UnsafeMutableBufferPointer<T>) throws {
        MPIRuntime.callLock.lock()
        defer { MPIRuntime.callLock.unlock() }
        try ensureRunning("MPI_Allgather")
        try CollectiveChecks.allgather(inputCount: input.count, outputCount: output.count, size: size)
        guard let source = input.baseAddress, let target = output.baseAddress else { return }
        let n = input.count
        if n <= maxElementsPerCall {
            let type = T.collectiveDatatype.mpi
            try MPIRuntime.check(MPI_Allgather(source, Int32(n), type, target, Int32(n), type, comm), "MPI_Allgather")
        } else {
            // Blocks too long for one call: each rank broadcasts its block, in chunks.
            if UnsafePointer(target + rank * n) != source { (target + rank * n).update(from: source, count: n) }
            for root in 0..<size {
                try broadcast(UnsafeMutableBufferPointer(start: target + root * n, count: n), root: root)
            }
        }
    }

    public func reduceScatter<T: CollectiveElement>(_ input: UnsafeBufferPointer<T>,
                                                    into output: UnsafeMutableBufferPointer<T>,
                                                    counts: [Int], op: ReductionOp) throws {
        MPIRuntime.callLock.lock()
        defer { MPIRuntime.callLock.unlock() }
        try ensureRunning("MPI_Reduce_scatter")
        try CollectiveChecks.reduceScatter(inputCount: input.count, outputCount: output.count,
                                           counts: counts, rank: rank, size: size)
        // Every rank passed the same counts, so an empty input returns on every rank alike.
        guard let source = input.baseAddress else { return }
        if fitsOneCall(counts) {
            // This rank's output may be empty (nil base address): MPI reads no element of it then.
            try MPIRuntime.check(MPI_Reduce_scatter(source, output.baseAddress, counts.map { Int32($0) },
                                                    T.collectiveDatatype.mpi, op.mpi, comm),
                                 "MPI_Reduce_scatter")
        } else {
            // Blocks too long for one call: reduce each rank's block to that rank, in chunks.
            let starts = blockStarts(counts)
            for root in 0..<size {
                try forEachChunk(count: counts[root]) { offset, n in
                    // Only the root receives; the others pass no receive buffer.
                    let target = root == rank ? output.baseAddress.map { $0 + offset } : nil
                    try MPIRuntime.check(MPI_Reduce(source + starts[root] + offset, target, n,
                                                    T.collectiveDatatype.mpi, op.mpi, Int32(root), comm),
                                         "MPI_Reduce")
                }
            }
        }
        if op == .average { T.divide(output, by: size) }
    }

    public func allgather<T: CollectiveElement>(inPlace buffer: UnsafeMutableBufferPointer<T>, counts: [Int]) throws {
        MPIRuntime.callLock.lock()
        defer { MPIRuntime.callLock.unlock() }
        try ensureRunning("MPI_Allgatherv")
        try CollectiveChecks.allgather(bufferCount: buffer.count, counts: counts, size: size)
        // Every rank passed the same counts, so an empty buffer returns on every rank alike.
        guard let base = buffer.baseAddress else { return }
        let starts = blockStarts(counts)
        if fitsOneCall(counts) {
            let type = T.collectiveDatatype.mpi
            // With MPI_IN_PLACE the send count and type are ignored; the own block is read from `base`.
            try MPIRuntime.check(MPI_Allgatherv(UnsafeRawPointer(cmpi_in_place()), 0, type, base,
                                                counts.map { Int32($0) }, starts.map { Int32($0) }, type, comm),
                                 "MPI_Allgatherv")
        } else {
            // Blocks too long for one call: each rank broadcasts its block, in chunks.
            for root in 0..<size {
                try broadcast(UnsafeMutableBufferPointer(start: base + starts[root], count: counts[root]), root: root)
            }
        }
    }

    /// Values per message of the ring collectives (2 MiB of Float32; the staging buffers are
    /// sized by the value at the first ring operation, later values may only be smaller).
    public var ringSegmentElements = 512 * 1024
    /// Messages in flight per direction in the ring collectives.
    public var ringDepth = 4
    private var engine: RingEngine?

    /// The ring engine, made (collectively: `MPI_Comm_dup`) by the first ring operation.
    private func ringEngine() throws -> RingEngine {
        if let engine { return engine }
        let microseconds = ProcessInfo.processInfo.environment["GPT_DIST_PROGRESS_US"].flatMap { UInt32($0) } ?? 500
        let made = try RingEngine(duplicating: comm, rank: rank, size: size, segmentElements: ringSegmentElements,
                                  depth: ringDepth, progressInterval: microseconds)
        engine = made
        return made
    }

    private func startRing(_ name: String, _ buffer: UnsafeMutableBufferPointer<Float>, counts: [Int],
                           kind: RingOperation.Kind, wire: WireFormat) throws -> CollectiveRequest {
        try ensureRunning(name)
        try CollectiveChecks.ring(name, bufferCount: buffer.count, counts: counts, size: size)
        guard size > 1, let base = buffer.baseAddress else { return CompletedRequest() }
        MPIRuntime.callLock.lock()
        defer { MPIRuntime.callLock.unlock() }
        let engine = try ringEngine()
        let operation = RingOperation(base: base, counts: counts, kind: kind, wire: wire, rank: rank, size: size,
                                      segmentElements: max(1, min(ringSegmentElements, engine.segmentElements)),
                                      engine: engine)
        engine.enqueue(operation)
        return operation
    }

    public func startReduceScatter(inPlace buffer: UnsafeMutableBufferPointer<Float>, counts: [Int],
                                   wire: WireFormat) throws -> CollectiveRequest {
        try startRing("startReduceScatter", buffer, counts: counts, kind: .reduceScatter, wire: wire)
    }

    public func startAllgather(inPlace buffer: UnsafeMutableBufferPointer<Float>, counts: [Int]) throws -> CollectiveRequest {
        try startRing("startAllgather", buffer, counts: counts, kind: .allgather, wire: .float32)
    }

    public func startAllreduce(inPlace buffer: UnsafeMutableBufferPointer<Float>, counts: [Int],
                               wire: WireFormat) throws -> CollectiveRequest {
        try startRing("startAllreduce", buffer, counts: counts, kind: .allreduce, wire: wire)
    }

    public func send<T: CollectiveElement>(_ buffer: UnsafeBufferPointer<T>, to destination: Int) throws {
        try ensureRunning("MPI_Send")
        try CollectiveChecks.peer("send", destination, rank: rank, size: size)
        guard let base = buffer.baseAddress else { return }
        MPIRuntime.callLock.lock()
        defer { MPIRuntime.callLock.unlock() }
        try forEachChunk(count: buffer.count) { offset, n in
            try MPIRuntime.check(MPI_Send(base + offset, n, T.collectiveDatatype.mpi, Int32(destination), 11, comm),
                                 "MPI_Send")
        }
    }

    public func receive<T: CollectiveElement>(_ buffer: UnsafeMutableBufferPointer<T>, from source: Int) throws {
        try ensureRunning("MPI_Recv")
        try CollectiveChecks.peer("receive", source, rank: rank, size: size)
        guard let base = buffer.baseAddress else { return }
        MPIRuntime.callLock.lock()
        defer { MPIRuntime.callLock.unlock() }
        try forEachChunk(count: buffer.count) { offset, n in
            try MPIRuntime.check(MPI_Recv(base + offset, n, T.collectiveDatatype.mpi, Int32(source), 11, comm,
                                          cmpi_status_ignore()), "MPI_Recv")
        }
    }

    public func makePeerChannel() throws -> PeerChannel? {
        guard size > 1, MPIRuntime.providesThreadMultiple else { return nil }
        MPIRuntime.callLock.lock()
        defer { MPIRuntime.callLock.unlock() }
        try ensureRunning("MPI_Comm_dup")
        return try MPIPeerChannel(duplicating: comm, rank: rank, size: size)
    }

    public func abort(code: Int32) -> Never {
        MPI_Abort(comm, code)
        exit(code)
    }

    /// Throws instead of calling MPI after `MPI_Finalize` (which Open MPI answers by aborting).
    private func ensureRunning(_ operation: String) throws {
        if MPIRuntime.isFinalized {
            throw MPIError(operation: operation, code: -1, message: "MPI was already finalized in this process")
        }
    }

    /// True when per-rank blocks go in one `MPI_Reduce_scatter`/`MPI_Allgatherv`: every count within
    /// `maxElementsPerCall`, and their sum a C int (Open MPI adds the counts up in an int, so this
    /// also keeps every displacement one).
    private func fitsOneCall(_ counts: [Int]) -> Bool {
        counts.allSatisfy { $0 <= maxElementsPerCall } && counts.reduce(0, +) <= Int(Int32.max)
    }

    /// Where each rank's block starts: the prefix sums of `counts` (MPI's displacements).
    private func blockStarts(_ counts: [Int]) -> [Int] {
        var starts: [Int] = [], next = 0
        for count in counts {
            starts.append(next)
            next += count
        }
        return starts
    }

    /// Calls `body` for consecutive pieces of at most `maxElementsPerCall` elements.
    private func forEachChunk(count: Int, _ body: (_ offset: Int, _ count: Int32) throws -> Void) throws {
        let limit = Swift.max(1, Swift.min(maxElementsPerCall, Int(Int32.max)))
        var offset = 0
        while offset < count {
            let n = Swift.min(limit, count - offset)
            try body(offset, Int32(n))
            offset += n
        }
    }
}
