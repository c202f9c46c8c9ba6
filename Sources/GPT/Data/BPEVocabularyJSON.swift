/// Reading and writing the vocabulary file of a byte-level BPE (GPT-2's encoder.json, Hugging
/// Face's vocab.json): one JSON object whose keys are tokens in byte-level text and whose values
/// are their ids.
///
/// A small purpose-built parser rather than `JSONSerialization`: it reports the line of a
/// problem, keeps keys as exact bytes (Swift `String` equality is canonical equivalence, which
/// could merge two distinct tokens) and is fast on GPT-2's 50,257 entries.
enum BPEVocabularyJSON {
    struct Entry {
        var key: [UInt8]  // UTF-8 of the token's byte-level text
        var id: Int
        var line: Int
    }

    /// The entries of `json`, in file order. Throws naming `source` and the line on malformed JSON.
    static func parse(_ json: UnsafeBufferPointer<UInt8>, source: String) throws -> [Entry] {
        var parser = Parser(bytes: json, source: source)
        return try parser.parseObject()
    }

    /// Compact JSON for `keys` (UTF-8 byte-level texts) with ids 0, 1, 2, … in order.
    static func serialize(keys: [[UInt8]]) -> String {
        var out: [UInt8] = [UInt8(ascii: "{")]
        out.reserveCapacity(keys.count * 12)
        for (id, key) in keys.enumerated() {
            if id > 0 { out.append(UInt8(ascii: ",")) }
            appendQuoted(key, to: &out)
            out.append(UInt8(ascii: ":"))
            out += Array(String(id).utf8)
        }
        out.append(UInt8(ascii: "}"))
        return String(decoding: out, as: UTF8.self)
    }

    /// Appends `key` (UTF-8) as a JSON string literal, quotes included.
    static func appendQuoted(_ key: [UInt8], to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for b in key {
            switch b {
            case UInt8(ascii: "\""): out += [UInt8(ascii: "\\"), UInt8(ascii: "\"")]
            case UInt8(ascii: "\\"): out += [UInt8(ascii: "\\"), UInt8(ascii: "\\")]
            case UInt8(ascii: "\n"): out += [UInt8(ascii: "\\"), UInt8(ascii: "n")]
            case UInt8(ascii: "\r"): out += [UInt8(ascii: "\\"), UInt8(ascii: "r")]
            case UInt8(ascii: "\t"): out += [UInt8(ascii: "\\"), UInt8(ascii: "t")]
            case 0x08: out += [UInt8(ascii: "\\"), UInt8(ascii: "b")]
            case 0x0C: out += [UInt8(ascii: "\\"), UInt8(ascii: "f")]
            case 0..<0x20:
                let hex = Array("0123456789abcdef".utf8)
                out += Array("\\u00".utf8) + [hex[Int(b >> 4)], hex[Int(b & 15)]]
            default: out.append(b)
            }
        }
        out.append(UInt8(ascii: "\""))
    }

    private struct Parser {
        let bytes: UnsafeBufferPointer<UInt8>
        let source: String
        var i = 0
        var line = 1

        init(bytes: UnsafeBufferPointer<UInt8>, source: String) {
            self.bytes = bytes
            self.source = source
        }

        func error(_ message: String) -> BPEError {
            BPEError(source: source, line: line, message)
        }

        mutating func skipSpace() {
            while i < bytes.count {
                let b = bytes[i]
                if b == UInt8(ascii: "\n") { line += 1 } else if b != 0x20 && b != 0x09 && b != 0x0D { return }
                i += 1
            }
        }

        mutating func expect(_ c: Character) throws {
            skipSpace()
            guard i < bytes.count else { throw error("unexpected end of file, expected '\(c)'") }
            guard bytes[i] == c.asciiValue! else {
                throw error("expected '\(c)', found '\(Unicode.Scalar(bytes[i]))'")
            }
            i += 1
        }

        mutating func parseObject() throws -> [Entry] {
            skipSpace()
            guard i < bytes.count else { throw error("empty file: expected a JSON object of token ids") }
            try expect("{")
            var entries: [Entry] = []
            skipSpace()
            if i < bytes.count, bytes[i] == UInt8(ascii: "}") {
                i += 1
            } else {
                while true {
                    skipSpace()
                    let keyLine = line
                    let key = try parseString()
                    try expect(":")
                    skipSpace()
                    let id = try parseID(for: key)
                    entries.append(Entry(key: key, id: id, line: keyLine))
                    skipSpace()
                    guard i < bytes.count else { throw error("unexpected end of file inside the JSON object") }
                    if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
                    if bytes[i] == UInt8(ascii: "}") { i += 1; break }
                    throw error("expected ',' or '}' after a token id")
                }
            }
            skipSpace()
            guard i == bytes.count else { throw error("unexpected text after the JSON object") }
            return entries
        }

        mutating func parseID(for key: [UInt8]) throws -> Int {
            let start = i
            var value = 0
            while i < bytes.count, bytes[i] >= UInt8(ascii: "0"), bytes[i] <= UInt8(ascii: "9") {
                value = value * 10 + Int(bytes[i] - UInt8(ascii: "0"))
                if value > Int(Int32.max) { throw error("token id too large") }
                i += 1
            }
            let name = String(decoding: key, as: UTF8.self)
            guard i > start else {
                throw error("the id of token \"\(name)\" is not a non-negative integer")
            }
            if i < bytes.count, [UInt8(ascii: "."), UInt8(ascii: "e"), UInt8(ascii: "E")].contains(bytes[i]) {
                throw error("the id of token \"\(name)\" is not an integer")
            }
            return value
        }

        mutating func parseString() throws -> [UInt8] {
            guard i < bytes.count, bytes[i] == UInt8(ascii: "\"") else {
                throw error("expected a token in double quotes")
            }
            i += 1
            var out: [UInt8] = []
            while true {
                guard i < bytes.count else { throw error("unterminated string") }
                let b = bytes[i]
                i += 1
                if b == UInt8(ascii: "\"") { return out }
                if b < 0x20 { throw error("control character inside a string") }
                if b != UInt8(ascii: "\\") { out.append(b); continue }
                guard i < bytes.count else { throw error("unterminated string") }
                let e = bytes[i]
                i += 1
                switch e {
                case UInt8(ascii: "\""): out.append(UInt8(ascii: "\""))
                case UInt8(ascii: "\\"): out.append(UInt8(ascii: "\\"))
                case UInt8(ascii: "/"): out.append(UInt8(ascii: "/"))
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "u"):
                    var scalar = try parseHex4()
                    if (0xD800..<0xDC00).contains(scalar) {
                        guard i + 1 < bytes.count, bytes[i] == UInt8(ascii: "\\"), bytes[i + 1] == UInt8(ascii: "u")
                        else { throw error("unpaired surrogate in \\u escape") }
                        i += 2
                        let low = try parseHex4()
                        guard (0xDC00..<0xE000).contains(low) else { throw error("unpaired surrogate in \\u escape") }
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    } else if (0xDC00..<0xE000).contains(scalar) {
                        throw error("unpaired surrogate in \\u escape")
                    }
                    out += Array(String(Unicode.Scalar(scalar)!).utf8)
                default:
                    throw error("invalid escape '\\\(Unicode.Scalar(e))' in a string")
                }
            }
        }

        mutating func parseHex4() throws -> UInt32 {
            guard i + 4 <= bytes.count else { throw error("truncated \\u escape") }
            var value: UInt32 = 0
            for _ in 0..<4 {
                let b = bytes[i]
                let digit: UInt32
                switch b {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(b - UInt8(ascii: "0"))
                case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt32(b - UInt8(ascii: "a") + 10)
                case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt32(b - UInt8(ascii: "A") + 10)
                default: throw error("invalid hex digit in \\u escape")
                }
                value = value * 16 + digit
                i += 1
            }
            return value
        }
    }
}
