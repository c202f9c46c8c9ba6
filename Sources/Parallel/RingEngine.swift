import CMPI
import Foundation

/// Drives the ring collectives of one `MPICommunicator`: a queue of operations in the order
/// they were started (the same on every rank), their segments posted as non-blocking sends
/// and receives on a communicator of their own, and a progress thread.
///
/// Open MPI moves data over TCP (and shared memory) only inside MPI calls. The progress thread
/// makes those calls while the caller computes: it tests the segments in flight, adds what
/// arrived, posts the next ones, then sleeps `progressInterval` (so it takes a few percent of a
/// core, not the whole core a busy-polling thread would). A caller that waits drives progress
/// itself without sleeping. Every MPI call of the collectives goes through
/// `MPIRuntime.callLock`, so they need only `MPI_THREAD_SERIALIZED` (the process asks for
/// `MPI_THREAD_MULTIPLE` for the watchdog's `PeerChannel` alone).
final class RingEngine: @unchecked Sendable {
    private let comm: MPI_Comm
    let rank: Int
    let size: Int
    /// Values per message (a segment of a block).
    let segmentElements: Int
    /// Segments in flight per direction.
    let depth: Int
    /// Sleep of the progress thread between two rounds of tests; 0 runs no thread (data then
    /// moves only while a caller starts, tests or waits: what MPI's own non-blocking
    /// collectives do over TCP).
    let progressInterval: useconds_t

    private var operations: [RingOperation] = []
    private struct InFlight {
        let operation: RingOperation
        let cursor: RingOperation.Cursor
        var request: MPI_Request?
        let slot: Int
        var done = false
    }
    /// Scratch for one `MPI_Testsome` over everything in flight (one progress call per round).
    private var testRequests: [MPI_Request?]
    private var testIndices: [Int32]
    private var receives: [InFlight] = []
    private var sends: [InFlight] = []
    private var freeReceiveSlots: [Int]
    private var freeSendSlots: [Int]
    /// Staging per slot: received values (Float32 or bfloat16) and bfloat16 values to send.
    private let receiveStaging: UnsafeMutableRawPointer
    private let sendStaging: UnsafeMutablePointer<UInt16>
    private let wake = DispatchSemaphore(value: 0)
    private var threadStarted = false
    private static let tag: Int32 = 7

    init(duplicating world: MPI_Comm, rank: Int, size: Int, segmentElements: Int, depth: Int,
         progressInterval: useconds_t) throws {
        comm = try MPIRuntime.duplicate(world)
        self.rank = rank
        self.size = size
        self.segmentElements = segmentElements
        self.depth = depth
        self.progressInterval = progressInterval
        receiveStaging = .allocate(byteCount: depth * segmentElements * 4, alignment: 64)
        sendStaging = .allocate(capacity: depth * segmentElements)
        freeReceiveSlots = Array(0..<depth)
        freeSendSlots = Array(0..<depth)
        receives.reserveCapacity(depth)
        sends.reserveCapacity(depth)
        testRequests = Array(repeating: cmpi_request_null(), count: 2 * depth)
        testIndices = Array(repeating: 0, count: 2 * depth)
    }

    /// Queues `operation`; the progress thread starts moving it at once.
    func enqueue(_ operation: RingOperation) {
        MPIRuntime.callLock.lock()
        if operation.isDone {
            operation.markComplete()
        } else {
            operations.append(operation)
            advanceLocked()
        }
        let start = !threadStarted && !operation.isComplete && progressInterval > 0
        if start { threadStarted = true }
        MPIRuntime.callLock.unlock()
        if start {
            let thread = Thread { [unowned self] in self.progressLoop() }
            thread.name = "gpt-dist.mpi-progress"
            thread.start()
        }
        wake.signal()
    }

    func test(_ operation: RingOperation) throws -> Bool {
        MPIRuntime.callLock.lock()
        defer { MPIRuntime.callLock.unlock() }
        if !operation.isComplete && operation.failure == nil { advanceLocked() }
        if let failure = operation.failure { throw failure }
        return operation.isComplete
    }

    func wait(for operation: RingOperation) throws {
        while try !test(operation) {
            sched_yield()
        }
    }

    private func progressLoop() {
        while true {
            wake.wait()
            while true {
                MPIRuntime.callLock.lock()
                if operations.isEmpty || MPIRuntime.isFinalized {
                    MPIRuntime.callLock.unlock()
                    break
                }
                advanceLocked()
                MPIRuntime.callLock.unlock()
                usleep(progressInterval)
            }
        }
    }

    /// Tests what is in flight, handles what finished, posts what may go next. Caller holds the lock.
    private func advanceLocked() {
        do {
            try testInFlight()
            try completeSends()
            try completeReceives()
            try postReceives()
            try postSends()
        } catch {
            // The job cannot go on consistently: every queued operation reports the error.
            for op in operations { op.failure = error }
            operations.removeAll()
            receives.removeAll()
            sends.removeAll()
            freeReceiveSlots = Array(0..<depth)
            freeSendSlots = Array(0..<depth)
            return
        }
        while let first = operations.first, first.isDone {
            first.markComplete()
            operations.removeFirst()
        }
    }

    /// One `MPI_Testsome` over every send and receive in flight: MPI makes progress once per
    /// call, so testing each request on its own made the progress thread cost several times more.
    private func testInFlight() throws {
        let count = sends.count + receives.count
        if count == 0 { return }
        for (i, send) in sends.enumerated() { testRequests[i] = send.request }
        for (i, receive) in receives.enumerated() { testRequests[sends.count + i] = receive.request }
        var completed: Int32 = 0
        try MPIRuntime.check(MPI_Testsome(Int32(count), &testRequests, &completed, &testIndices, cmpi_statuses_ignore()),
                             "MPI_Testsome")
        if completed == cmpi_undefined() { return }
        for k in 0..<Int(completed) {
            let i = Int(testIndices[k])
            if i < sends.count {
                sends[i].done = true
                sends[i].request = testRequests[i]
            } else {
                receives[i - sends.count].done = true
                receives[i - sends.count].request = testRequests[i]
            }
        }
    }

    private func completeSends() throws {
        var i = 0
        while i < sends.count {
            if sends[i].done {
                sends[i].operation.sendsInFlight -= 1
                if sends[i].slot >= 0 { freeSendSlots.append(sends[i].slot) }
                sends.remove(at: i)
            } else {
                i += 1
            }
        }
    }

    /// Receives are handled in the order they were posted (a reduction round's later sends
    /// wait for them in that order).
    private func completeReceives() throws {
        while let head = receives.first, head.done {
            let op = head.operation
            let range = op.range(head.cursor, sending: false)
            let target = op.base + range.lowerBound
            let staged = receiveStaging + head.slot * segmentElements * 4
            let reduces = op.reduces(round: head.cursor.round)
            switch (op.wire, reduces) {
            case (.float32, true):
                BFloat16.add(staged.assumingMemoryBound(to: Float.self), into: target, count: range.count)
            case (.float32, false):
                break  // received in place
            case (.bfloat16, _):
                BFloat16.decode(staged.assumingMemoryBound(to: UInt16.self), into: target, count: range.count,
                                adding: reduces)
            }
            // A bfloat16 allreduce hands every rank the same values: the owner rounds its sum
            // as the others will receive it.
            if op.kind == .allreduce && op.wire == .bfloat16 && head.cursor.round == size - 2 {
                BFloat16.round(target, count: range.count)
            }
            if head.slot >= 0 { freeReceiveSlots.append(head.slot) }
            receives.removeFirst()
            op.processedCursor = op.advanced(head.cursor, sending: false)
        }
    }

    private func postReceives() throws {
        let previous = Int32((rank - 1 + size) % size)
        for op in operations {
            while !op.isPast(op.receiveCursor) {
                guard receives.count < depth else { return }
                let cursor = op.receiveCursor
                let range = op.range(cursor, sending: false)
                let inPlace = op.wire == .float32 && !op.reduces(round: cursor.round)
                var slot = -1
                if !inPlace {
                    guard let free = freeReceiveSlots.popLast() else { return }
                    slot = free
                }
                var request: MPI_Request? = cmpi_request_null()
                let (pointer, bytes): (UnsafeMutableRawPointer, Int) = inPlace
                    ? (UnsafeMutableRawPointer(op.base + range.lowerBound), range.count * 4)
                    : (receiveStaging + slot * segmentElements * 4, range.count * op.wire.byteCount)
                try MPIRuntime.check(MPI_Irecv(pointer, Int32(bytes), cmpi_byte(), previous, Self.tag, comm, &request),
                                     "MPI_Irecv")
                receives.append(InFlight(operation: op, cursor: cursor, request: request, slot: slot))
                op.receiveCursor = op.advanced(cursor, sending: false)
            }
        }
    }

    private func postSends() throws {
        let next = Int32((rank + 1) % size)
        for op in operations {
            while !op.isPast(op.sendCursor) {
                guard sends.count < depth else { return }
                let cursor = op.sendCursor
                guard op.canSend(cursor) else { return }
                let range = op.range(cursor, sending: true)
                var slot = -1
                var pointer = UnsafeRawPointer(op.base + range.lowerBound)
                if op.wire == .bfloat16 {
                    guard let free = freeSendSlots.popLast() else { return }
                    slot = free
                    let staged = sendStaging + slot * segmentElements
                    BFloat16.encode(op.base + range.lowerBound, into: staged, count: range.count)
                    pointer = UnsafeRawPointer(staged)
                }
                var request: MPI_Request? = cmpi_request_null()
                try MPIRuntime.check(MPI_Isend(pointer, Int32(range.count * op.wire.byteCount), cmpi_byte(), next,
                                               Self.tag, comm, &request), "MPI_Isend")
                sends.append(InFlight(operation: op, cursor: cursor, request: request, slot: slot))
                op.sendsInFlight += 1
                op.sendCursor = op.advanced(cursor, sending: true)
            }
        }
    }
}
