/// The kinds of tokenizer a dataset or checkpoint can carry.
public enum TokenizerKind: String, Codable, Sendable, CaseIterable {
    /// One token per character of the corpus's sorted character set (nanoGPT's shakespeare_char).
    case character = "char"
    /// GPT-2 style byte-level BPE.
    case bpe
}

/// Turns text into token ids and back. Every dataset and checkpoint stores the tokenizer it was
/// made with, so training and sampling need nothing else.
public protocol Tokenizer: Sendable {
    /// Which kind this is (recorded in the files that store it).
    var kind: TokenizerKind { get }
    /// Number of distinct ids; every id is in `0..<vocabularySize`.
    var vocabularySize: Int { get }
    /// The ids of `text`. Throws when the text cannot be encoded (a character outside a
    /// character vocabulary, say), naming what and where.
    func encode(_ text: String) throws -> [Int32]
    /// The text of `tokens`. Bytes that do not form whole UTF-8 characters decode to U+FFFD.
    func decode(_ tokens: [Int32]) -> String
}
