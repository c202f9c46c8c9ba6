// Hook: replaced by calls to BPETokenizer.load once branch `tok` is merged.
/// Loads a byte-level BPE tokenizer from its vocabulary and merges (files or texts).
public enum BPEFileLoader {
    public static func load(vocabularyFile: String, mergesFile: String) throws -> any Tokenizer {
        throw DataError.invalidOption("--tokenizer bpe is not available in this build (BPE tokenizer not merged yet)")
    }

    public static func load(vocabJSON: String, merges: String, source: String) throws -> any Tokenizer {
        throw DataError.invalidTokenizer(path: source, reason: "BPE tokenizer not available in this build")
    }
}
