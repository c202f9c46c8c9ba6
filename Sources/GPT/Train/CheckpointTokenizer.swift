import Foundation
import HDF5

/// The `/tokenizer` group of a checkpoint, in the layout of a dataset's `meta.h5`
/// (docs/dataset-format.md): attributes `kind` and `vocab_size`, and the vocabulary as UTF-8 bytes.
enum CheckpointTokenizer {
    static func write(_ tokenizer: any Tokenizer, into group: H5Group) throws {
        try group.setAttribute("kind", tokenizer.kind.rawValue)
        try group.setAttribute("vocab_size", tokenizer.vocabularySize)
        switch tokenizer {
        case let char as CharTokenizer:
            try group.createDataset("vocabulary", values: Array(char.vocabulary.utf8))
        default:
            throw CheckpointError.writeFailed(path: group.filePath, reason: "storing a \(tokenizer.kind.rawValue) tokenizer is not supported yet")
        }
    }

    static func read(from group: H5Group) throws -> any Tokenizer {
        let kind: String = try group.attribute("kind")
        switch TokenizerKind(rawValue: kind) {
        case .character:
            let bytes = try group.dataset("vocabulary").read(as: UInt8.self)
            return try CharTokenizer(vocabulary: String(decoding: bytes, as: UTF8.self))
        default:
            throw CheckpointError.invalid(path: group.filePath, problem: "/tokenizer: unsupported kind '\(kind)'")
        }
    }
}
