// Hook: replaced by a call to BPETokenizer.load(vocabularyFile:mergesFile:) once branch `tok` is merged.
/// Loads a byte-level BPE tokenizer from its vocabulary and merges files.
public enum BPEFileLoader {
    public static func load(vocabularyFile: String, mergesFile: String) throws -> any Tokenizer {
        throw DataError.invalidOption("--tokenizer bpe is not available in this build (BPE tokenizer not merged yet)")
    }
}
