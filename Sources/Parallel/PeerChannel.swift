import CMPI
import Foundation

/// A side channel beside a communicator's collectives, for asking the other ranks what they are
/// doing while a collective hangs: each rank has one thread that answers queries (with whatever
/// bytes its owner says), and that thread may ask every other rank for its answer, waiting a
/// bounded time. It never takes part in a collective, so a rank stuck in one, or one that died,
/// only leaves its answer missing. Made by `Communicator.makePeerChannel()`; every method but
/// `close` is called from that one thread.
public protocol PeerChannel: AnyObject {
    /// Each rank's host name (`MPI_Get_processor_name`), by rank.
    var hosts: [String] { get }

    /// Answers every query that has arrived with `status()` (called once per query, at most
    /// `PeerChannelLimits.statusBytes` bytes kept); returns at once when none is waiting.
    func answerQueries(with status: () -> [UInt8])

    /// Asks every other rank for its status and waits up to `timeout` seconds for the answers,
    /// answering queries meanwhile (the other ranks may be asking at the same time). Returns one
    /// entry per rank: the answer, or nil for a rank that did not answer in time (and for this
    /// rank). Returns as soon as every other rank has answered.
    func askPeers(timeout: Double, answering status: () -> [UInt8]) -> [[UInt8]?]

    /// Withdraws the pending receive; called once the answering thread has ended, before MPI is
    /// finalized. Later queries from other ranks go unanswered.
    func close()
}

/// Sizes of `PeerChannel` messages.
public enum PeerChannelLimits {
    /// The most bytes of one status answer (longer ones are cut).
    public static let statusBytes = 1024
}

/// `PeerChannel` over a duplicate of an MPI communicator: non-blocking point-to-point messages
/// (a query of 4 bytes, the round number; an answer of the round and the status), tested, never
/// waited for, from the answering thread alone. Its calls skip `MPIRuntime.callLock` (the main
/// thread may hold it inside a collective that never ends), so it needs `MPI_THREAD_MULTIPLE`.
final class MPIPeerChannel: PeerChannel, @unchecked Sendable {
    private let comm: MPI_Comm
    private let rank: Int
    private let size: Int
    let hosts: [String]
    private static let queryTag: Int32 = 31
    private static let answerTag: Int32 = 32
    private static let messageBytes = 4 + PeerChannelLimits.statusBytes

    /// The posted receive for any rank's query, and its buffer (the round number).
    private var queryRequest: MPI_Request? = cmpi_request_null()
    private let queryBuffer = UnsafeMutablePointer<UInt32>.allocate(capacity: 1)
    /// Sends not yet known complete, with the buffers they read.
    private var sends: [(request: MPI_Request?, buffer: UnsafeMutableRawPointer)] = []
    /// The round of the last `askPeers`; answers of earlier rounds are dropped.
    private var round: UInt32 = 0
    private var closed = false
    /// Set by `close`; read by the threads of `sendDetached`.
    private let closing = Flag()

    /// A boolean several threads read.
    private final class Flag: @unchecked Sendable {
        private let lock = NSLock()
        private var value = false
        var isSet: Bool {
            lock.lock()
            defer { lock.unlock() }
            return value
        }
        func set() {
            lock.lock()
            value = true
            lock.unlock()
        }
    }

    /// Duplicates `world` and gathers every rank's host name: collective, every rank calls it
    /// (under `callLock`, from the thread that calls the collectives).
    init(duplicating world: MPI_Comm, rank: Int, size: Int) throws {
        comm = try MPIRuntime.duplicate(world)
        self.rank = rank
        self.size = size
        let width = Int(cmpi_max_processor_name())
        var mine = [CChar](repeating: 0, count: width)
        var length: Int32 = 0
        try MPIRuntime.check(MPI_Get_processor_name(&mine, &length), "MPI_Get_processor_name")
        var all = [CChar](repeating: 0, count: width * size)
        try MPIRuntime.check(MPI_Allgather(mine, Int32(width), cmpi_byte(), &all, Int32(width), cmpi_byte(), comm),
                             "MPI_Allgather")
        hosts = (0..<size).map { r in
            let bytes = all[(r * width)..<((r + 1) * width)].prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
            return String(decoding: bytes, as: UTF8.self)
        }
        postQueryReceive()
    }

    deinit {
        queryBuffer.deallocate()
    }

    private func postQueryReceive() {
        queryRequest = cmpi_request_null()
        if MPI_Irecv(queryBuffer, 4, cmpi_byte(), cmpi_any_source(), Self.queryTag, comm, &queryRequest) != cmpi_success() {
            queryRequest = cmpi_request_null()
        }
    }

    /// Sends `bytes` to `peer` without waiting; the buffer lives until the send is known
    /// complete.
    private func send(_ bytes: UnsafeRawBufferPointer, to peer: Int, tag: Int32) {
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: max(1, bytes.count), alignment: 8)
        if let base = bytes.baseAddress { buffer.copyMemory(from: base, byteCount: bytes.count) }
        var request: MPI_Request? = cmpi_request_null()
        guard MPI_Isend(buffer, Int32(bytes.count), cmpi_byte(), Int32(peer), tag, comm, &request) == cmpi_success() else {
            buffer.deallocate()
            return
        }
        sends.append((request, buffer))
    }

    /// Sends `bytes` to `peer` from a thread of its own, which tests the send until it completes
    /// or the channel closes. Over TCP, `MPI_Isend` to a rank that died can block inside Open
    /// MPI's reconnection for longer than mpirun's second before its SIGKILL (observed across two
    /// emulated hosts): a query to each peer from its own thread keeps the asker's wait bounded.
    private func sendDetached(_ bytes: [UInt8], to peer: Int, tag: Int32) {
        let comm = self.comm, closing = self.closing
        let thread = Thread {
            let buffer = UnsafeMutableRawPointer.allocate(byteCount: max(1, bytes.count), alignment: 8)
            bytes.withUnsafeBytes { if let base = $0.baseAddress { buffer.copyMemory(from: base, byteCount: bytes.count) } }
            var request: MPI_Request? = cmpi_request_null()
            guard MPI_Isend(buffer, Int32(bytes.count), cmpi_byte(), Int32(peer), tag, comm, &request) == cmpi_success() else {
                buffer.deallocate()
                return
            }
            while true {
                var flag: Int32 = 0
                if MPI_Test(&request, &flag, cmpi_status_ignore()) != cmpi_success() || flag != 0 {
                    buffer.deallocate()
                    return
                }
                if closing.isSet {
                    // MPI frees the request when the send completes; its few bytes are left to it.
                    MPI_Request_free(&request)
                    return
                }
                usleep(2000)
            }
        }
        thread.name = "gpt-dist peer query"
        thread.start()
    }

    /// Frees the buffers of the sends that completed.
    private func reapSends() {
        var i = 0
        while i < sends.count {
            var flag: Int32 = 0
            var request = sends[i].request
            let code = MPI_Test(&request, &flag, cmpi_status_ignore())
            if code != cmpi_success() || flag != 0 {
                sends[i].buffer.deallocate()
                sends.remove(at: i)
            } else {
                sends[i].request = request
                i += 1
            }
        }
    }

    func answerQueries(with status: () -> [UInt8]) {
        guard !closed else { return }
        reapSends()
        while queryRequest != cmpi_request_null() {
            var flag: Int32 = 0
            var received = MPI_Status()
            guard MPI_Test(&queryRequest, &flag, &received) == cmpi_success(), flag != 0 else { return }
            let peer = Int(received.MPI_SOURCE), asked = queryBuffer.pointee
            postQueryReceive()
            guard peer >= 0 && peer < size else { continue }
            var message = withUnsafeBytes(of: asked) { Array($0) }
            message += status().prefix(PeerChannelLimits.statusBytes)
            message.withUnsafeBytes { send($0, to: peer, tag: Self.answerTag) }
        }
    }

    func askPeers(timeout: Double, answering status: () -> [UInt8]) -> [[UInt8]?] {
        var answers = [[UInt8]?](repeating: nil, count: size)
        guard !closed, size > 1 else { return answers }
        round &+= 1
        let current = round
        let buffers = UnsafeMutableRawPointer.allocate(byteCount: size * Self.messageBytes, alignment: 8)
        defer { buffers.deallocate() }
        var requests = [MPI_Request?](repeating: cmpi_request_null(), count: size)
        func postAnswerReceive(from peer: Int) {
            if MPI_Irecv(buffers + peer * Self.messageBytes, Int32(Self.messageBytes), cmpi_byte(), Int32(peer),
                         Self.answerTag, comm, &requests[peer]) != cmpi_success() {
                requests[peer] = cmpi_request_null()
            }
        }
        for peer in 0..<size where peer != rank {
            postAnswerReceive(from: peer)
            sendDetached(withUnsafeBytes(of: current) { Array($0) }, to: peer, tag: Self.queryTag)
        }
        let deadline = DispatchTime.now().uptimeNanoseconds + UInt64(max(0, timeout) * 1e9)
        while true {
            answerQueries(with: status)
            var pending = false
            for peer in 0..<size where requests[peer] != cmpi_request_null() {
                var flag: Int32 = 0
                var received = MPI_Status()
                guard MPI_Test(&requests[peer], &flag, &received) == cmpi_success() else {
                    requests[peer] = cmpi_request_null()
                    continue
                }
                if flag == 0 {
                    pending = true
                    continue
                }
                var count: Int32 = 0
                MPI_Get_count(&received, cmpi_byte(), &count)
                let message = buffers + peer * Self.messageBytes
                if count >= 4 && message.loadUnaligned(as: UInt32.self) == current {
                    answers[peer] = Array(UnsafeRawBufferPointer(start: message + 4, count: Int(count) - 4))
                } else {
                    // An answer to an earlier round that came late: wait for this round's.
                    postAnswerReceive(from: peer)
                    pending = true
                }
            }
            if !pending || DispatchTime.now().uptimeNanoseconds >= deadline { break }
            usleep(2000)
        }
        // Withdraw the receives nobody answered, so MPI never writes into the freed buffers.
        for peer in 0..<size where requests[peer] != cmpi_request_null() {
            MPI_Cancel(&requests[peer])
            MPI_Wait(&requests[peer], cmpi_status_ignore())
        }
        return answers
    }

    func close() {
        guard !closed else { return }
        closed = true
        closing.set()
        if queryRequest != cmpi_request_null() {
            MPI_Cancel(&queryRequest)
            MPI_Wait(&queryRequest, cmpi_status_ignore())
        }
        reapSends()
        // Sends to a rank that never received them stay with MPI, which frees them when done
        // (their few bytes of buffer are left to it).
        for var send in sends where send.request != cmpi_request_null() { MPI_Request_free(&send.request) }
        sends.removeAll()
    }
}
