/// GPT-2's pre-tokenization, written as a scanner over UTF-8 bytes instead of a regex.
///
/// It splits text exactly as the pattern
/// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
/// does (the pattern of OpenAI's encoder.py, tiktoken's `gpt2` and Hugging Face's ByteLevel
/// pre-tokenizer). `\s` is the Unicode White_Space property, `\p{L}` and `\p{N}` the letter and
/// number general categories. The lookahead `\s+(?!\S)` is reproduced by its backtracking: a run of
/// whitespace followed by a non-space gives its last whitespace scalar to the next piece, so
/// `"a  b"` splits as `a`, ` `, ` b`.
public enum BPEPretokenizer {
    enum CharClass: UInt8 { case letter, number, space, other }

    /// The class of every ASCII byte (the common case needs no Unicode property lookup).
    private static let asciiClass: [CharClass] = (0..<128).map { b in
        classify(UInt32(b))
    }

    @inline(__always)
    static func charClass(_ scalar: UInt32) -> CharClass {
        scalar < 128 ? asciiClass[Int(scalar)] : classify(scalar)
    }

    private static func classify(_ value: UInt32) -> CharClass {
        guard let scalar = Unicode.Scalar(value) else { return .other }
        let properties = scalar.properties
        if properties.isWhitespace { return .space }
        switch properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter:
            return .letter
        case .decimalNumber, .letterNumber, .otherNumber:
            return .number
        default:
            return .other
        }
    }

    /// Calls `body` with the byte range of each piece of `range` in `bytes` (valid UTF-8), in order.
    /// The pieces tile `range` exactly.
    @inline(__always)
    static func forEachPiece(in bytes: UnsafeBufferPointer<UInt8>, range: Range<Int>,
                             _ body: (Range<Int>) throws -> Void) rethrows {
        let end = range.upperBound
        var p = range.lowerBound
        while p < end {
            let start = p
            let (c, cLength) = BPEUTF8.decode(bytes, at: p)
            // 's 't 're 've 'm 'll 'd (case-sensitive, ASCII apostrophe only).
            if c == 0x27, p + 1 < end {
                let b1 = bytes[p + 1]
                if b1 == UInt8(ascii: "s") || b1 == UInt8(ascii: "t") || b1 == UInt8(ascii: "m")
                    || b1 == UInt8(ascii: "d") {
                    p += 2
                    try body(start..<p)
                    continue
                }
                if p + 2 < end {
                    let b2 = bytes[p + 2]
                    if (b1 == UInt8(ascii: "r") && b2 == UInt8(ascii: "e"))
                        || (b1 == UInt8(ascii: "v") && b2 == UInt8(ascii: "e"))
                        || (b1 == UInt8(ascii: "l") && b2 == UInt8(ascii: "l")) {
                        p += 3
                        try body(start..<p)
                        continue
                    }
                }
            }
            var cls = charClass(c)
            let runStart = p + cLength
            // ` ?\p{L}+`, ` ?\p{N}+`, ` ?[^\s\p{L}\p{N}]+`: an optional single space, then a run.
            if c == 0x20, runStart < end {
                let (n, _) = BPEUTF8.decode(bytes, at: runStart)
                let nextClass = charClass(n)
                // The run begins at the scalar after the space.
                if nextClass != .space { cls = nextClass }
            }
            if cls != .space {
                var q = runStart
                while q < end {
                    let (s, sLength) = BPEUTF8.decode(bytes, at: q)
                    if charClass(s) != cls { break }
                    q += sLength
                }
                p = q
                try body(start..<p)
                continue
            }
            // Whitespace: `\s+(?!\S)` then `\s+`.
            var q = p + cLength
            var lastStart = p
            var count = 1
            while q < end {
                let (s, sLength) = BPEUTF8.decode(bytes, at: q)
                if charClass(s) != .space { break }
                lastStart = q
                q += sLength
                count += 1
            }
            if q == end || count == 1 {
                // At the end of the text the whole run matches `\s+(?!\S)`; a single whitespace
                // scalar before a non-space fails the lookahead and matches `\s+` alone.
                p = q
            } else {
                // Backtrack one scalar so the lookahead sees whitespace.
                p = lastStart
            }
            try body(start..<p)
        }
    }

    /// The pieces of `text`, for inspection and tests.
    public static func split(_ text: String) -> [String] {
        let bytes = Array(text.utf8)
        var pieces: [String] = []
        bytes.withUnsafeBufferPointer { buffer in
            forEachPiece(in: buffer, range: 0..<buffer.count) { range in
                pieces.append(String(decoding: buffer[range], as: UTF8.self))
            }
        }
        return pieces
    }
}
