import Foundation
import HDF5

/// Stores a tokenizer inside an HDF5 group (a dataset's `meta.h5`, a checkpoint), so training
/// and sampling need nothing else. Layout (docs/dataset-format.md):
///
/// - attributes `kind` (`char`/`bpe`) and `vocab_size` (int64);
/// - `char`: dataset `vocabulary`, the vocabulary's UTF-8 bytes (uint8), id i = i-th scalar;
/// - `bpe`: datasets `vocab_json` and `merges_txt`, the UTF-8 bytes (uint8) of vocab.json and
///   merges.txt as Hugging Face writes them.
///
/// Texts are byte datasets rather than string attributes: attributes are limited to 64 KiB and a
/// GPT-2 vocabulary is about 1 MB.
public enum TokenizerStore {
    /// Writes `tokenizer` into `group` (which should be empty).
    public static func save(_ tokenizer: any Tokenizer, in group: H5Group) throws {
        try group.setAttribute("kind", tokenizer.kind.rawValue)
        try group.setAttribute("vocab_size", tokenizer.vocabularySize)
        switch tokenizer {
        case let char as CharTokenizer:
            try group.createDataset("vocabulary", values: Array(char.vocabulary.utf8))
        default:
            guard let files = tokenizer as? BPETokenizer else {
                throw DataError.invalidTokenizer(path: group.filePath, reason: "cannot store a \(tokenizer.kind.rawValue) tokenizer of type \(type(of: tokenizer))")
            }
            try group.createDataset("vocab_json", values: Array(files.vocabularyJSON.utf8))
            try group.createDataset("merges_txt", values: Array(files.mergesText.utf8))
        }
    }

    /// Rebuilds the tokenizer stored in `group`. Errors name the file and group.
    public static func load(from group: H5Group) throws -> any Tokenizer {
        let place = "\(group.filePath): \(group.path)"
        func fail(_ reason: String) -> DataError { .invalidTokenizer(path: place, reason: reason) }
        let kindName: String
        let size: Int
        do {
            kindName = try group.attribute("kind", as: String.self)
            size = try group.attribute("vocab_size", as: Int.self)
        } catch let error as HDF5Error {
            throw fail(error.message + " (attribute kind or vocab_size)")
        }
        func text(_ name: String) throws -> String {
            let bytes: [UInt8]
            do {
                bytes = try group.dataset(name).read(as: UInt8.self)
            } catch let error as HDF5Error {
                throw fail("\(name): \(error.message)")
            }
            guard let text = String(validating: bytes, as: UTF8.self) else { throw fail("\(name) is not UTF-8") }
            return text
        }
        let tokenizer: any Tokenizer
        switch TokenizerKind(rawValue: kindName) {
        case .character?:
            do {
                tokenizer = try CharTokenizer(vocabulary: text("vocabulary"))
            } catch let error as DataError {
                if case .invalidTokenizer = error { throw error }
                throw fail("\(error)")
            }
        case .bpe?:
            do {
                tokenizer = try BPETokenizer.load(vocabJSON: text("vocab_json"), merges: text("merges_txt"), source: place)
            } catch let error as DataError {
                throw error
            } catch {
                throw fail("\(error)")
            }
        case nil:
            throw fail("unknown tokenizer kind '\(kindName)'")
        }
        guard tokenizer.vocabularySize == size else {
            throw fail("vocab_size is \(size) but the stored vocabulary has \(tokenizer.vocabularySize) tokens")
        }
        return tokenizer
    }
}
