import Foundation

/// Everything that can go wrong while preparing or reading a tokenized dataset. Each description is
/// one line naming the file (or key) and the problem, ready to print before a non-zero exit.
public enum DataError: Error, CustomStringConvertible, LocalizedError, Equatable {
    /// A character that the character vocabulary does not contain; `position` counts Unicode
    /// scalars from the start of the text being encoded.
    case unknownCharacter(Unicode.Scalar, position: Int)
    /// A character vocabulary that is not a sorted set of distinct characters.
    case invalidVocabulary(String)
    /// An input path that does not exist or cannot be read.
    case unreadableInput(path: String, reason: String)
    /// An input file with no bytes, or a folder with no input files.
    case emptyInput(path: String)
    /// An input file whose bytes are not UTF-8 at `byteOffset`.
    case notUTF8(path: String, byteOffset: Int)
    /// A split that would get too few tokens to make even one (input, target) pair.
    case corpusTooSmall(split: String, tokens: Int, needed: Int)
    /// The output folder exists and is not empty.
    case outputExists(path: String)
    /// Writing the output failed.
    case writeFailed(path: String, reason: String)
    /// A bad option value (`--val-fraction`, `--shard-tokens`, ...).
    case invalidOption(String)
    /// A dataset folder with no `meta.h5`, or a file that is not one of our shards or metadata files.
    case notADataset(path: String, reason: String)
    /// A shard or metadata file that is damaged or disagrees with the rest of the dataset.
    case corruptDataset(path: String, reason: String)
    /// A split or window request that the dataset cannot satisfy (split too short for the block).
    case invalidRequest(String)
    /// A stored tokenizer that cannot be rebuilt.
    case invalidTokenizer(path: String, reason: String)

    public var description: String {
        switch self {
        case let .unknownCharacter(scalar, position):
            return "character \(Self.describe(scalar)) at position \(position) is not in the tokenizer's vocabulary"
        case let .invalidVocabulary(reason):
            return "invalid character vocabulary: \(reason)"
        case let .unreadableInput(path, reason):
            return "\(path): cannot read input: \(reason)"
        case let .emptyInput(path):
            return "\(path): input is empty"
        case let .notUTF8(path, offset):
            return "\(path): not UTF-8 text (invalid byte at offset \(offset))"
        case let .corpusTooSmall(split, tokens, needed):
            return "the \(split) split has \(tokens) tokens; at least \(needed) are needed (use a larger corpus or change --val-fraction)"
        case let .outputExists(path):
            return "\(path): output folder exists and is not empty; choose a new --out"
        case let .writeFailed(path, reason):
            return "\(path): write failed: \(reason)"
        case let .invalidOption(message):
            return message
        case let .notADataset(path, reason):
            return "\(path): not a gpt-dist token dataset: \(reason)"
        case let .corruptDataset(path, reason):
            return "\(path): damaged dataset: \(reason)"
        case let .invalidRequest(message):
            return message
        case let .invalidTokenizer(path, reason):
            return "\(path): cannot load the stored tokenizer: \(reason)"
        }
    }

    public var errorDescription: String? { description }

    /// A scalar as a person can read it in one line: the character itself when printable, and its code point.
    static func describe(_ scalar: Unicode.Scalar) -> String {
        let code = "U+" + String(format: "%04X", scalar.value)
        if scalar.properties.isWhitespace || scalar.properties.generalCategory == .control
            || scalar.properties.generalCategory == .format {
            return code
        }
        return "'\(Character(scalar))' (\(code))"
    }
}
