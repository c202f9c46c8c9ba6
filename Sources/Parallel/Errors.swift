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
}
