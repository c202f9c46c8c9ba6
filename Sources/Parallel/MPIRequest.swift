import CMPI

/// A non-blocking collective in flight: one MPI request per chunk, and the work to do once all
/// have finished (dividing the sum for an average).
final class MPIRequest: CollectiveRequest {
    private var requests: [MPI_Request?]
    private var finish: (() -> Void)?
    private var isComplete = false

    init(requests: [MPI_Request?], finish: (() -> Void)?) {
        self.requests = requests
        self.finish = finish
        if requests.isEmpty { complete() }
    }

    func test() throws -> Bool {
        if isComplete { return true }
        MPIRuntime.callLock.lock()
        defer { MPIRuntime.callLock.unlock() }
        var flag: Int32 = 0
        try MPIRuntime.check(MPI_Testall(Int32(requests.count), &requests, &flag, cmpi_statuses_ignore()),
                             "MPI_Testall")
        if flag != 0 { complete() }
        return isComplete
    }

    func wait() throws {
        if isComplete { return }
        MPIRuntime.callLock.lock()
        defer { MPIRuntime.callLock.unlock() }
        try MPIRuntime.check(MPI_Waitall(Int32(requests.count), &requests, cmpi_statuses_ignore()),
                             "MPI_Waitall")
        complete()
    }

    private func complete() {
        isComplete = true
        finish?()
        finish = nil
    }

    /// A request dropped before completion is waited for, so MPI never writes into a buffer its
    /// owner believes free.
    deinit {
        if !isComplete && !MPIRuntime.isFinalized { try? wait() }
    }
}
