/// Where a text stream may be cut into independently encoded chunks.
///
/// Both kinds of cut fall right before a byte that is not a UTF-8 continuation byte, so a cut
/// never splits a character, and never splits a maximal ill-formed subpart either: decoding the
/// pieces with `--invalid-utf8 replace` gives the same text as decoding the whole.
public enum ChunkCut: Sendable {
    /// At any character (Unicode scalar) boundary: the character tokenizer encodes each
    /// scalar on its own.
    case anyCharacter
    /// Only right before a "\n" that is followed by a visible ASCII character other than "<"
    /// (the start of a special token) ("a  \nB" is cut
    /// as "a  " | "\nB"). GPT-2's pre-tokenization pattern never looks back across that point,
    /// and a whitespace run there is split the same way whole or cut: mid-text, `\s+(?!\S)`
    /// takes the run minus its last character (the "\n", which `\s+` then takes alone), and
    /// at the end of a chunk it takes exactly that same run. So encoding the chunks separately
    /// gives the same ids as encoding the whole text; CRLF files ("a\r" | "\nB") cut too.
    /// (Cutting after the "\n" would not be safe: "  \n" at the end of a chunk is one piece,
    /// mid-text it is "  " + "\n".)
    case lineStart

    /// True when a chunk may end right before `bytes[p]`, judged from `bytes` alone: `p` must be
    /// inside `bytes` and, for `.lineStart`, so must `p + 1` (the byte after the "\n" decides).
    /// The caller makes sure `p` is not the first byte of the text (a chunk is never empty).
    func allowsCut(before p: Int, in bytes: [UInt8]) -> Bool {
        guard p >= 0 && p < bytes.count else { return false }
        switch self {
        case .anyCharacter:
            return bytes[p] & 0xC0 != 0x80  // p starts a scalar
        case .lineStart:
            // Not before "<": a special token such as <|endoftext|> ends the text piece
            // before it like the end of the text does, so a cut there would split "\r\n".
            guard p + 1 < bytes.count else { return false }
            let next = bytes[p + 1]
            return bytes[p] == 0x0A && next > 0x20 && next < 0x7F && next != 0x3C
        }
    }
}
