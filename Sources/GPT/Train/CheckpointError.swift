import Foundation

/// A checkpoint file that cannot be written or used, naming the file and what is wrong.
public enum CheckpointError: Error, CustomStringConvertible, LocalizedError, Equatable {
    case invalid(path: String, problem: String)
    case writeFailed(path: String, reason: String)

    public var description: String {
        switch self {
        case .invalid(let path, let problem): return "\(path): \(problem)"
        case .writeFailed(let path, let reason): return "\(path): cannot write the checkpoint: \(reason)"
        }
    }
    public var errorDescription: String? { description }
}
