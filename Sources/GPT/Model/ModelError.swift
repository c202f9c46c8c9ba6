import Foundation

/// Input a model cannot run on (a batch of the wrong shape, a token id outside the vocabulary).
public struct ModelError: Error, CustomStringConvertible, LocalizedError, Equatable {
    /// One line saying what is wrong and where.
    public let message: String

    public init(_ message: String) { self.message = message }

    public var description: String { "model: \(message)" }
    public var errorDescription: String? { description }
}
