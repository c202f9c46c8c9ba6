import Foundation

/// The communicator of a process that runs alone (no `mpirun`/`srun`): one rank, and every
/// collective is what MPI would do with one rank (allreduce and average leave values unchanged,
/// allgather and reduce-scatter copy, requests are complete at once). Never touches MPI.
public final class LocalCommunicator: Communicator, @unchecked Sendable {
    public init() {}

    public var rank: Int { 0 }
    public var size: Int { 1 }
    public var localRank: Int { 0 }
    public var localSize: Int { 1 }
    public var usesMPI: Bool { false }

    public func barrier() throws {}

    public func broadcast<T: CollectiveElement>(_ buffer: UnsafeMutableBufferPointer<T>, root: Int) throws {
        guard root == 0 else {
            throw CollectiveUsageError(operation: "broadcast", problem: "root \(root) is not a rank (size 1)")
        }
    }

    public func allreduce<T: CollectiveElement>(_ buffer: UnsafeMutableBufferPointer<T>, op: ReductionOp) throws {}

    public func startAllreduce<T: CollectiveElement>(_ buffer: UnsafeMutableBufferPointer<T>,
                                                     op: ReductionOp) throws -> CollectiveRequest {
        CompletedRequest()
    }

    public func reduceScatter<T: CollectiveElement>(_ input: UnsafeBufferPointer<T>,
                                                    into output: UnsafeMutableBufferPointer<T>,
                                                    op: ReductionOp) throws {
        try CollectiveChecks.reduceScatter(inputCount: input.count, outputCount: output.count, size: 1)
        copy(input, into: output)
    }

    public func allgather<T: CollectiveElement>(_ input: UnsafeBufferPointer<T>,
                                                into output: UnsafeMutableBufferPointer<T>) throws {
        try CollectiveChecks.allgather(inputCount: input.count, outputCount: output.count, size: 1)
        copy(input, into: output)
    }

    public func reduceScatter<T: CollectiveElement>(_ input: UnsafeBufferPointer<T>,
                                                    into output: UnsafeMutableBufferPointer<T>,
                                                    counts: [Int], op: ReductionOp) throws {
        try CollectiveChecks.reduceScatter(inputCount: input.count, outputCount: output.count,
                                           counts: counts, rank: 0, size: 1)
        copy(input, into: output)
    }

    public func allgather<T: CollectiveElement>(inPlace buffer: UnsafeMutableBufferPointer<T>, counts: [Int]) throws {
        // The one block is already where it belongs.
        try CollectiveChecks.allgather(bufferCount: buffer.count, counts: counts, size: 1)
    }

    public func startReduceScatter(inPlace buffer: UnsafeMutableBufferPointer<Float>, counts: [Int],
                                   wire: WireFormat) throws -> CollectiveRequest {
        try CollectiveChecks.ring("startReduceScatter", bufferCount: buffer.count, counts: counts, size: 1)
        return CompletedRequest()
    }

    public func startAllgather(inPlace buffer: UnsafeMutableBufferPointer<Float>, counts: [Int]) throws -> CollectiveRequest {
        try CollectiveChecks.ring("startAllgather", bufferCount: buffer.count, counts: counts, size: 1)
        return CompletedRequest()
    }

    public func startAllreduce(inPlace buffer: UnsafeMutableBufferPointer<Float>, counts: [Int],
                               wire: WireFormat) throws -> CollectiveRequest {
        try CollectiveChecks.ring("startAllreduce", bufferCount: buffer.count, counts: counts, size: 1)
        return CompletedRequest()
    }

    public func send<T: CollectiveElement>(_ buffer: UnsafeBufferPointer<T>, to destination: Int) throws {
        try CollectiveChecks.peer("send", destination, rank: 0, size: 1)
    }

    public func receive<T: CollectiveElement>(_ buffer: UnsafeMutableBufferPointer<T>, from source: Int) throws {
        try CollectiveChecks.peer("receive", source, rank: 0, size: 1)
    }

    public func abort(code: Int32) -> Never {
        exit(code)
    }

    /// Copies unless input and output are the same memory (an in-place call).
    private func copy<T>(_ input: UnsafeBufferPointer<T>, into output: UnsafeMutableBufferPointer<T>) {
        guard let source = input.baseAddress, let target = output.baseAddress,
              source != UnsafePointer(target) else { return }
        target.update(from: source, count: input.count)
    }
}

/// A request that finished when it was made.
final class CompletedRequest: CollectiveRequest {
    func test() throws -> Bool { true }
    func wait() throws {}
}
