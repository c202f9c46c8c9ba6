import Foundation

/// A safetensors file that cannot be read or written. Its description is one line naming the
/// file and what is wrong, e.g. `model.safetensors: tensor 'wte.weight' has shape [64, 32]
/// (8192 bytes of F32) but data_offsets [0, 4096] hold 4096 bytes`.
public struct SafeTensorsError: Error, CustomStringConvertible, LocalizedError, Equatable, Sendable {
    /// What kind of problem it is (for callers and tests; the message says the details).
    public enum Kind: String, Sendable {
        /// No such file, or it cannot be opened or mapped.
        case unreadable
        /// Shorter than the 8-byte header length.
        case truncated
        /// The header length points past the end of the file.
        case headerPastEnd
        /// The header is not a JSON object of tensor entries.
        case invalidHeader
        /// A dtype that is not one of safetensors' names.
        case unknownDType
        /// A dtype of the format that this reader does not convert (only F32, F16, BF16).
        case unsupportedDType
        /// A shape whose byte size differs from its data_offsets.
        case shapeMismatch
        /// data_offsets that reach past the end of the data.
        case outOfBounds
        /// Two tensors whose data_offsets overlap.
        case overlap
        /// A tensor name the file does not have.
        case missingTensor
        /// A destination buffer of the wrong size, or entries written out of order.
        case invalidArgument
        /// Writing, syncing or renaming failed.
        case writeFailed
    }

    /// The file the problem is in.
    public let path: String
    public let kind: Kind
    /// What is wrong, without the path.
    public let message: String

    public init(path: String, _ kind: Kind, _ message: String) {
        self.path = path
        self.kind = kind
        self.message = message
    }

    public var description: String { "\(path): \(message)" }
    public var errorDescription: String? { description }
}
