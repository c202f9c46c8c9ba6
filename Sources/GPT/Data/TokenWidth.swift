/// How wide the stored token ids are: 16 bits when every id fits (vocabulary ≤ 65,536, as
/// nanoGPT's uint16 .bin files), else 32.
public enum TokenWidth: String, Sendable, Codable {
    case uint16
    case uint32

    /// The narrowest width that holds every id of a vocabulary of `vocabularySize`.
    public init(vocabularySize: Int) {
        self = vocabularySize <= 65_536 ? .uint16 : .uint32
    }

    /// Bytes per token.
    public var byteCount: Int { self == .uint16 ? 2 : 4 }
}
