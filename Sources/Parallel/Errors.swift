import Foundation

/// An MPI call that returned an error code (the world communicator's error handler is
/// `MPI_ERRORS_RETURN`, so failures come back here instead of aborting the job).
public struct MPIError: Error, CustomStringConvertible, LocalizedError, Sendable {
    /// The MPI function that failed, e.g. `MPI_Bcast`.
    public let operation: String
    /// The error code it returned.
    public let code: Int32
    /// MPI's own text for the code (`MPI_Error_string`), or our explanation for checks we make.
    public let message: String

    public init(operation: String, code: Int32, message: String) {
        self.operation = operation
        self.code = code
        self.message = message
    }

    public var description: String { "\(operation) failed: \(message) (MPI error code \(code))" }
    public var errorDescription: String? { description }
}

/// A collective called with buffers that cannot work (e.g. wrong counts for reduce-scatter); the
/// same mistake is reported by `LocalCommunicator` and `MPICommunicator`.
public struct CollectiveUsageError: Error, CustomStringConvertible, LocalizedError, Sendable {
    /// The collective, e.g. `reduceScatter`.
    public let operation: String
    /// What is wrong, in one line.
    public let problem: String

    public init(operation: String, problem: String) {
        self.operation = operation
        self.problem = problem
    }

    public var description: String { "\(operation): \(problem)" }
    public var errorDescription: String? { description }
}

/// Checks shared by both communicators, so they reject the same calls with the same text.
enum CollectiveChecks {
    /// Checks the blocks of a ring collective: one non-negative count per rank, adding up to the buffer.
    static func ring(_ operation: String, bufferCount: Int, counts: [Int], size: Int) throws {
        guard counts.count == size, counts.allSatisfy({ $0 >= 0 }), counts.reduce(0, +) == bufferCount else {
            throw CollectiveUsageError(
                operation: operation,
                problem: "counts \(counts) must be \(size) non-negative block sizes adding up to the buffer's \(bufferCount) elements")
        }
    }

    /// Checks the peer of a point-to-point call.
    static func peer(_ operation: String, _ peer: Int, rank: Int, size: Int) throws {
        guard peer >= 0 && peer < size && peer != rank else {
            throw CollectiveUsageError(operation: operation, problem: "rank \(peer) is not another rank (rank \(rank) of \(size))")
        }
    }

    static func reduceScatter(inputCount: Int, outputCount: Int, size: Int) throws {
        guard inputCount == outputCount * size else {
            throw CollectiveUsageError(
                operation: "reduceScatter",
                problem: "input has \(inputCount) elements, expected \(size) ranks x \(outputCount) output elements = \(outputCount * size)")
        }
    }

    static func allgather(inputCount: Int, outputCount: Int, size: Int) throws {
        guard outputCount == inputCount * size else {
            throw CollectiveUsageError(
                operation: "allgather",
                problem: "output has \(outputCount) elements, expected \(size) ranks x \(inputCount) input elements = \(inputCount * size)")
        }
    }

    /// Checks a reduce-scatter with per-rank block sizes: one non-negative count per rank, input
    /// of all blocks, output of this rank's block.
    static func reduceScatter(inputCount: Int, outputCount: Int, counts: [Int], rank: Int, size: Int) throws {
        let total = try blockTotal(counts, size: size, operation: "reduceScatter")
        guard inputCount == total else {
            throw CollectiveUsageError(
                operation: "reduceScatter",
                problem: "input has \(inputCount) elements, expected the sum of counts = \(total)")
        }
        guard outputCount == counts[rank] else {
            throw CollectiveUsageError(
                operation: "reduceScatter",
                problem: "output has \(outputCount) elements, expected counts[\(rank)] = \(counts[rank]) (this rank's block)")
        }
    }

    /// Checks an in-place allgather with per-rank block sizes: one non-negative count per rank,
    /// a buffer of all blocks.
    static func allgather(bufferCount: Int, counts: [Int], size: Int) throws {
        let total = try blockTotal(counts, size: size, operation: "allgather")
        guard bufferCount == total else {
            throw CollectiveUsageError(
                operation: "allgather",
                problem: "buffer has \(bufferCount) elements, expected the sum of counts = \(total)")
        }
    }

    /// The sum of per-rank block counts, after checking there is one non-negative count per rank
    /// (and that the sum does not overflow, which would trap instead of throwing).
    private static func blockTotal(_ counts: [Int], size: Int, operation: String) throws -> Int {
        guard counts.count == size else {
            throw CollectiveUsageError(operation: operation,
                                       problem: "counts has \(counts.count) entries, expected one per rank (\(size))")
        }
        var total = 0
        for (r, count) in counts.enumerated() {
            guard count >= 0 else {
                throw CollectiveUsageError(operation: operation, problem: "counts[\(r)] is \(count), a block cannot be negative")
            }
            let (sum, overflow) = total.addingReportingOverflow(count)
            guard !overflow else {
                throw CollectiveUsageError(operation: operation, problem: "the sum of counts overflows Int")
            }
            total = sum
        }
        return total
    }
}
