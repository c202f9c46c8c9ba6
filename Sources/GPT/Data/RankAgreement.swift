import Foundation
import Parallel

/// A failure every rank of a multi-rank job knows about: the lowest rank that failed at a step
/// told the others what went wrong, so all of them can stop normally instead of one rank leaving
/// the others waiting in a collective (or aborting the job).
public struct AgreedFailure: Error, CustomStringConvertible, LocalizedError, Equatable {
    /// The rank that failed (the lowest one, when several did).
    public let rank: Int
    /// Its error, in one line.
    public let message: String

    public init(rank: Int, message: String) {
        self.rank = rank
        self.message = message
    }

    public var description: String { message }
    public var errorDescription: String? { message }
}

/// Runs steps of work that may fail on some ranks only, and makes every rank agree on the outcome
/// before the next collective: after each step the ranks allreduce (min) the number of the first
/// rank that failed, and that rank broadcasts its error's one-line description. Every rank then
/// throws the same `AgreedFailure`. With one rank nothing is exchanged and errors pass unchanged.
public struct RankAgreement {
    public let communicator: any Communicator

    public init(_ communicator: any Communicator) {
        self.communicator = communicator
    }

    /// Runs `body` on this rank; returns its value when it succeeded on every rank, and throws
    /// `AgreedFailure` (the lowest failing rank's error) on every rank otherwise.
    public func run<T>(_ body: () throws -> T) throws -> T {
        let outcome = Result { try body() }
        let size = communicator.size
        guard size > 1 else { return try outcome.get() }
        var failure: Error?
        if case .failure(let error) = outcome { failure = error }
        let first = Int(try communicator.allreduce(Int64(failure == nil ? size : communicator.rank), op: .min))
        guard first < size else { return try outcome.get() }
        let message = try broadcast(failure.map(Self.oneLine) ?? "", root: first)
        throw AgreedFailure(rank: first, message: message)
    }

    /// `root`'s `text` on every rank (the others pass anything).
    public func broadcast(_ text: String, root: Int) throws -> String {
        let isRoot = communicator.rank == root
        var length = [Int64(isRoot ? text.utf8.count : 0)]
        try communicator.broadcast(&length, root: root)
        var bytes = isRoot ? text.utf8.map { Int32($0) } : [Int32](repeating: 0, count: Int(max(0, length[0])))
        try communicator.broadcast(&bytes, root: root)
        return String(decoding: bytes.map { UInt8(truncatingIfNeeded: $0) }, as: UTF8.self)
    }

    /// True when every rank stops with `error` at the same point: an agreed failure, or any error
    /// of a job of one rank.
    public func isAgreed(_ error: Error) -> Bool {
        communicator.size == 1 || error is AgreedFailure
    }

    /// The first line of an error's description.
    static func oneLine(_ error: Error) -> String {
        let text = "\(error)"
        return text.split(separator: "\n", omittingEmptySubsequences: false).first.map(String.init) ?? text
    }
}
