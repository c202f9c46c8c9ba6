import Parallel

/// AdamW's moments between the ranks' parts and a checkpoint's full tensors. On resume rank 0
/// (which read the checkpoint) hands each rank its part; when a checkpoint is written rank 0
/// takes the parts one rank at a time and writes each into the file before the next arrives,
/// so no rank ever holds a full-size copy of moments it does not own.
struct MomentShards {
    let exchange: GradientExchange
    let communicator: any Communicator

    /// Fills `optimizer`'s moments (its `range`) from `snapshot`: rank 0's full moments (nil on
    /// the other ranks). Every rank calls it.
    func distribute(_ snapshot: OptimizerSnapshot?, into optimizer: AdamW) throws {
        let rank = communicator.rank, size = communicator.size
        if rank == 0, let snapshot {
            let range = optimizer.range
            snapshot.m.withUnsafeBufferPointer { _ = optimizer.m.update(fromContentsOf: $0[range]) }
            snapshot.v.withUnsafeBufferPointer { _ = optimizer.v.update(fromContentsOf: $0[range]) }
        }
        guard size > 1 else { return }
        if exchange.settings.zeroStage == 0 {
            // Every rank keeps every moment.
            try communicator.broadcast(optimizer.m, root: 0)
            try communicator.broadcast(optimizer.v, root: 0)
            return
        }
        if rank == 0 {
            guard let snapshot else { return }  // resume checks that the checkpoint has them
            for r in 1..<size {
                let shard = exchange.shards[r]
                try snapshot.m.withUnsafeBufferPointer { try communicator.send(UnsafeBufferPointer(rebasing: $0[shard]), to: r) }
                try snapshot.v.withUnsafeBufferPointer { try communicator.send(UnsafeBufferPointer(rebasing: $0[shard]), to: r) }
            }
        } else {
            try communicator.receive(UnsafeMutableBufferPointer(rebasing: optimizer.m[0..<optimizer.range.count]), from: 0)
            try communicator.receive(UnsafeMutableBufferPointer(rebasing: optimizer.v[0..<optimizer.range.count]), from: 0)
        }
    }

    /// On rank 0: calls `write(range, m, v)` for every rank's part, in rank order (its own, then
    /// each other rank's as it arrives in a buffer of one shard). A failure in `write` stops the
    /// writing, but every part is still received (the other ranks must not hang in their send),
    /// and the first error is thrown at the end. On the other ranks: sends this rank's part.
    /// Under ZeRO stage 0 rank 0 holds every moment and the others send nothing.
    func collect(from optimizer: AdamW, write: Checkpoint.MomentWriter) throws {
        let rank = communicator.rank, size = communicator.size
        let sharded = size > 1 && exchange.settings.zeroStage == 1
        if rank != 0 {
            if sharded {
                try communicator.send(UnsafeBufferPointer(rebasing: optimizer.m[0..<optimizer.range.count]), to: 0)
                try communicator.send(UnsafeBufferPointer(rebasing: optimizer.v[0..<optimizer.range.count]), to: 0)
            }
            return
        }
        var failure: Error?
        do {
            try write(optimizer.range, UnsafeBufferPointer(rebasing: optimizer.m[0..<optimizer.range.count]),
                      UnsafeBufferPointer(rebasing: optimizer.v[0..<optimizer.range.count]))
        } catch {
            failure = error
        }
        guard sharded else {
            if let failure { throw failure }
            return
        }
        let largest = exchange.shards.map(\.count).max() ?? 0
        let m = UnsafeMutableBufferPointer<Float>.allocate(capacity: max(1, largest))
        let v = UnsafeMutableBufferPointer<Float>.allocate(capacity: max(1, largest))
        defer {
            m.deallocate()
            v.deallocate()
        }
        for r in 1..<size {
            let shard = exchange.shards[r]
            let partM = UnsafeMutableBufferPointer(rebasing: m[0..<shard.count])
            let partV = UnsafeMutableBufferPointer(rebasing: v[0..<shard.count])
            try communicator.receive(partM, from: r)
            try communicator.receive(partV, from: r)
            if failure == nil {
                do { try write(shard, UnsafeBufferPointer(partM), UnsafeBufferPointer(partV)) } catch { failure = error }
            }
        }
        if let failure { throw failure }
    }
}
