import Foundation

/// A Hugging Face model directory (or one of its files) that gpt-dist cannot import or write:
/// one line naming the file, and the key or tensor, and what is wrong.
public struct HuggingFaceError: Error, CustomStringConvertible, LocalizedError, Equatable {
    /// The file (or directory) the problem is in.
    public let path: String
    public let problem: String

    public init(path: String, _ problem: String) {
        self.path = path
        self.problem = problem
    }

    public var description: String { "\(path): \(problem)" }
    public var errorDescription: String? { description }
}
