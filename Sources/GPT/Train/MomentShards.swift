import Parallel

/// AdamW's moments between the ranks' shards and a checkpoint's full tensors. On resume rank 0
/// (which read the checkpoint) hands each rank its parts; when a checkpoint is written rank 0
/// takes the parts one at a time and writes each into the file before the next arrives, so no
/// rank ever holds more than its own moments plus one part of another rank's.
struct MomentShards {
    let exchange: GradientExchange
    let communicator: any Communicator

    private var sharded: Bool { communicator.size > 1 && exchange.settings.zeroStage == 1 }

    /// Where each of a rank's parts lies in its optimizer's moments.
    private func momentOffsets(_ parts: [Range<Int>]) -> [Int] {
        var offsets: [Int] = [], next = 0
        for part in parts {
            offsets.append(next)
            next += part.count
        }
        return offsets
    }

    /// Fills `optimizer`'s moments from `snapshot`: rank 0's full moments (nil on the other
    /// ranks). Every rank calls it.
    func distribute(_ snapshot: OptimizerSnapshot?, into optimizer: AdamW) throws {
        let rank = communicator.rank, size = communicator.size
        if rank == 0, let snapshot {
            for (part, offset) in zip(optimizer.ranges, momentOffsets(optimizer.ranges)) {
                for i in 0..<part.count {
                    optimizer.m[offset + i] = snapshot.m[part.lowerBound + i]
                    optimizer.v[offset + i] = snapshot.v[part.lowerBound + i]
                }
            }
        }
        guard size > 1 else { return }
        guard sharded else {
            // Every rank keeps every moment.
            try communicator.broadcast(optimizer.m, root: 0)
            try communicator.broadcast(optimizer.v, root: 0)
            return
        }
        if rank == 0 {
            guard let snapshot else { return }  // resume checks that the checkpoint has them
            for r in 1..<size {
                for part in exchange.shards[r] where !part.isEmpty {
                    try snapshot.m.withUnsafeBufferPointer { try communicator.send(UnsafeBufferPointer(rebasing: $0[part]), to: r) }
                    try snapshot.v.withUnsafeBufferPointer { try communicator.send(UnsafeBufferPointer(rebasing: $0[part]), to: r) }
                }
            }
        } else {
            for (part, offset) in zip(optimizer.ranges, momentOffsets(optimizer.ranges)) {
                try communicator.receive(UnsafeMutableBufferPointer(rebasing: optimizer.m[offset..<(offset + part.count)]), from: 0)
                try communicator.receive(UnsafeMutableBufferPointer(rebasing: optimizer.v[offset..<(offset + part.count)]), from: 0)
            }
        }
    }

    /// On rank 0: calls `write(range, m, v)` for every part of every rank, in rank order (its
    /// own, then each other rank's part as it arrives in a buffer of one part). A failure in
    /// `write` stops the writing, but every part is still received (the other ranks must not
    /// hang in their send), and the first error is thrown at the end. On the other ranks: sends
    /// this rank's parts. Under ZeRO stage 0 rank 0 holds every moment and the others send nothing.
    func collect(from optimizer: AdamW, write: Checkpoint.MomentWriter) throws {
        let rank = communicator.rank, size = communicator.size
        let own = zip(optimizer.ranges, momentOffsets(optimizer.ranges))
        if rank != 0 {
            guard sharded else { return }
            for (part, offset) in own {
                try communicator.send(UnsafeBufferPointer(rebasing: optimizer.m[offset..<(offset + part.count)]), to: 0)
                try communicator.send(UnsafeBufferPointer(rebasing: optimizer.v[offset..<(offset + part.count)]), to: 0)
            }
            return
        }
        var failure: Error?
        for (part, offset) in own where failure == nil {
            do {
                try write(part, UnsafeBufferPointer(rebasing: optimizer.m[offset..<(offset + part.count)]),
                          UnsafeBufferPointer(rebasing: optimizer.v[offset..<(offset + part.count)]))
            } catch {
                failure = error
            }
        }
        if sharded {
            let largest = exchange.shards.joined().map(\.count).max() ?? 0
            let m = UnsafeMutableBufferPointer<Float>.allocate(capacity: max(1, largest))
            let v = UnsafeMutableBufferPointer<Float>.allocate(capacity: max(1, largest))
            defer {
                m.deallocate()
                v.deallocate()
            }
            for r in 1..<size {
                for part in exchange.shards[r] where !part.isEmpty {
                    let partM = UnsafeMutableBufferPointer(rebasing: m[0..<part.count])
                    let partV = UnsafeMutableBufferPointer(rebasing: v[0..<part.count])
                    try communicator.receive(partM, from: r)
                    try communicator.receive(partV, from: r)
                    if failure == nil {
                        do { try write(part, UnsafeBufferPointer(partM), UnsafeBufferPointer(partV)) } catch { failure = error }
                    }
                }
            }
        }
        if let failure { throw failure }
    }
}
