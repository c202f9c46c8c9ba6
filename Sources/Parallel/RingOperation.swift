import Foundation

/// One ring collective over Float32 blocks in place: a reduce-scatter, an allgather, or both
/// one after the other (an allreduce). Made by `MPICommunicator.start…(wire:)`, driven by its
/// `RingEngine`; waiting on it is waiting for the buffer to hold the result.
///
/// With N ranks the buffer holds N blocks, block `b` (`counts[b]` values) ending on rank `b`.
/// Reduce-scatter round `k` (0..<N-1): rank `r` sends its partial sum of block `(r-k-1) mod N`
/// to rank `r+1` and adds what rank `r-1` sends of block `(r-k-2) mod N` into its own; after
/// N-1 rounds block `r` holds the sum over ranks on rank `r`. Allgather round `k`: rank `r`
/// forwards block `(r-k) mod N` and receives block `(r-k-1) mod N`. Each rank sends and receives
/// 2(N-1)/N of the buffer for an allreduce, (N-1)/N for either half: the least any algorithm can.
/// Blocks move in segments, so a reduction of one segment overlaps the transfer of the next.
final class RingOperation: CollectiveRequest {
    enum Kind { case reduceScatter, allgather, allreduce }

    /// Where a segment sits: round, index within its block, element range in the buffer.
    struct Cursor: Comparable {
        var round = 0, segment = 0
        static func < (a: Cursor, b: Cursor) -> Bool {
            a.round < b.round || (a.round == b.round && a.segment < b.segment)
        }
    }

    let base: UnsafeMutablePointer<Float>
    let starts: [Int]
    let counts: [Int]
    let kind: Kind
    let wire: WireFormat
    let rank: Int
    let size: Int
    let segmentElements: Int
    let rounds: Int
    unowned let engine: RingEngine

    // Progress, advanced by the engine under its lock.
    var sendCursor = Cursor()
    var receiveCursor = Cursor()
    var processedCursor = Cursor()
    var sendsInFlight = 0
    var failure: Error?
    private(set) var isComplete = false

    init(base: UnsafeMutablePointer<Float>, counts: [Int], kind: Kind, wire: WireFormat, rank: Int, size: Int,
         segmentElements: Int, engine: RingEngine) {
        self.base = base
        self.counts = counts
        var starts: [Int] = [], next = 0
        for c in counts { starts.append(next); next += c }
        self.starts = starts
        self.kind = kind
        self.wire = wire
        self.rank = rank
        self.size = size
        self.segmentElements = segmentElements
        self.engine = engine
        rounds = kind == .allreduce ? 2 * (size - 1) : size - 1
        sendCursor = normalized(Cursor(), sending: true)
        receiveCursor = normalized(Cursor(), sending: false)
        processedCursor = receiveCursor
    }

    /// True when the round reduces (adds what arrives) rather than copies it.
    func reduces(round: Int) -> Bool { kind == .reduceScatter || (kind == .allreduce && round < size - 1) }

    /// The block a rank sends (`sending`) or receives in `round`.
    func block(round: Int, sending: Bool) -> Int {
        let gatherRound = kind == .allgather ? round : round - (size - 1)
        let shift = reduces(round: round) ? (sending ? round + 1 : round + 2) : (sending ? gatherRound : gatherRound + 1)
        return ((rank - shift) % size + size) % size
    }

    func segments(ofBlock b: Int) -> Int { (counts[b] + segmentElements - 1) / segmentElements }

    /// The element range of a cursor's segment.
    func range(_ c: Cursor, sending: Bool) -> Range<Int> {
        let b = block(round: c.round, sending: sending)
        let lower = starts[b] + c.segment * segmentElements
        return lower..<min(starts[b] + counts[b], lower + segmentElements)
    }

    /// True when every segment of this side has been passed.
    func isPast(_ c: Cursor) -> Bool { c.round >= rounds }

    /// The next cursor on this side (skipping empty blocks).
    func advanced(_ c: Cursor, sending: Bool) -> Cursor {
        normalized(Cursor(round: c.round, segment: c.segment + 1), sending: sending)
    }

    private func normalized(_ c: Cursor, sending: Bool) -> Cursor {
        var c = c
        while c.round < rounds && c.segment >= segments(ofBlock: block(round: c.round, sending: sending)) {
            c = Cursor(round: c.round + 1, segment: 0)
        }
        return c
    }

    /// Whether the segment at a send cursor holds its final data: round 0 sends this rank's
    /// own values; later rounds forward what the previous round received into the same place.
    func canSend(_ c: Cursor) -> Bool {
        c.round == 0 || Cursor(round: c.round - 1, segment: c.segment) < processedCursor
    }

    /// Called by the engine once every send completed and every receive was processed.
    func markComplete() {
        isComplete = true
    }

    var isDone: Bool { isPast(processedCursor) && isPast(sendCursor) && sendsInFlight == 0 }

    func test() throws -> Bool { try engine.test(self) }
    func wait() throws { try engine.wait(for: self) }
    // No deinit wait: the engine keeps every operation alive until it is done.
}
