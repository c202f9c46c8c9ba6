import Foundation

/// A problem with a byte-level BPE vocabulary, merges list, training run or encoding.
/// Its description is one line naming the file (and line, when there is one) and what is wrong.
public struct BPEError: Error, CustomStringConvertible, LocalizedError, Equatable {
    /// The file or other source the problem is in (a path, or a name such as `vocab JSON`).
    public var source: String
    /// The 1-based line in `source`, when the problem is on one line.
    public var line: Int?
    /// What is wrong.
    public var message: String

    public init(source: String, line: Int? = nil, _ message: String) {
        self.source = source
        self.line = line
        self.message = message
    }

    public var description: String {
        if let line { return "\(source):\(line): \(message)" }
        return "\(source): \(message)"
    }

    public var errorDescription: String? { description }
}
