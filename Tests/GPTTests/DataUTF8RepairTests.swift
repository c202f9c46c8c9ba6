import XCTest
@testable import GPT
import TestSupport

/// `--invalid-utf8 replace`: U+FFFD for each maximal ill-formed subpart, as Python decodes.
final class DataUTF8RepairTests: XCTestCase {
    var folder: URL!
    override func setUpWithError() throws { folder = try makeTemporaryDirectory("data-utf8") }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: folder) }

    /// Bytes, then Python's text and number of U+FFFD, from:
    ///
    ///     python3 -c "
    ///     cases = [b'a\xffb', b'\xc0\xaf', b'\xe0\x80\xaf', b'\xed\xa0\x80', b'\xf4\x90\x80\x80',
    ///              b'\xf8\x88\x80\x80\x80', b'\xe6\x97', b'\xe6\x97A', b'\xf0\x9f\x98x', b'\x80\x80',
    ///              b'\x61\xf1\x80\x80\xe1\x80\xc2\x62\x80\x63\x80\xbf\x64', b'\xe2\x82\xac\xe2\x82',
    ///              b'\xf0\x90\x80\xc3\xa9', b'\xc2\n\xe2\x82\n']
    ///     for c in cases:
    ///         s = c.decode('utf-8', errors='replace')
    ///         print(repr(c), ascii(s), s.count('\ufffd'))"
    static let pythonCases: [(bytes: [UInt8], text: String, replacements: Int)] = [
        ([0x61, 0xFF, 0x62], "a\u{FFFD}b", 1),                                  // never a lead byte
        ([0xC0, 0xAF], "\u{FFFD}\u{FFFD}", 2),                                  // overlong lead: each byte alone
        ([0xE0, 0x80, 0xAF], "\u{FFFD}\u{FFFD}\u{FFFD}", 3),                    // overlong 3-byte
        ([0xED, 0xA0, 0x80], "\u{FFFD}\u{FFFD}\u{FFFD}", 3),                    // surrogate
        ([0xF4, 0x90, 0x80, 0x80], "\u{FFFD}\u{FFFD}\u{FFFD}\u{FFFD}", 4),      // above U+10FFFF
        ([0xF8, 0x88, 0x80, 0x80, 0x80], String(repeating: "\u{FFFD}", count: 5), 5),  // 5-byte form
        ([0xE6, 0x97], "\u{FFFD}", 1),                                          // cut short by the end
        ([0xE6, 0x97, 0x41], "\u{FFFD}A", 1),                                   // cut short by a letter
        ([0xF0, 0x9F, 0x98, 0x78], "\u{FFFD}x", 1),                             // 3 of 4 bytes: one U+FFFD
        ([0x80, 0x80], "\u{FFFD}\u{FFFD}", 2),                                  // lone continuations
        ([0x61, 0xF1, 0x80, 0x80, 0xE1, 0x80, 0xC2, 0x62, 0x80, 0x63, 0x80, 0xBF, 0x64],
         "a\u{FFFD}\u{FFFD}\u{FFFD}b\u{FFFD}c\u{FFFD}\u{FFFD}d", 6),             // the Unicode Standard's table 3-8
        ([0xE2, 0x82, 0xAC, 0xE2, 0x82], "\u{20AC}\u{FFFD}", 1),
        ([0xF0, 0x90, 0x80, 0xC3, 0xA9], "\u{FFFD}\u{E9}", 1),
        ([0xC2, 0x0A, 0xE2, 0x82, 0x0A], "\u{FFFD}\n\u{FFFD}\n", 2),
    ]

    func testReplacementIsPythons() {
        for (bytes, text, replacements) in Self.pythonCases {
            let decoded = UTF8Repair.decode(bytes)
            XCTAssertEqual(decoded.text, text, "\(bytes)")
            XCTAssertEqual(decoded.replacements, replacements, "\(bytes)")
        }
        XCTAssertEqual(UTF8Repair.decode(Array("aé日🙂\u{FFFD}".utf8)).text, "aé日🙂\u{FFFD}")
        XCTAssertEqual(UTF8Repair.decode(Array("aé日🙂\u{FFFD}".utf8)).replacements, 0, "a U+FFFD in the text is no replacement")
    }

    /// All the cases in one file, read in chunks of every small size and in two ranges cut where a
    /// chunk may end: the same text as decoding the whole.
    func testChunksAndRangesReplaceAsTheWholeDoes() throws {
        var bytes: [UInt8] = []
        var text = "", replacements = 0
        for (i, example) in Self.pythonCases.enumerated() {
            bytes += example.bytes + Array(" \(i)\n".utf8)
            text += example.text + " \(i)\n"
            replacements += example.replacements
        }
        let path = folder.appendingPathComponent("mixed.txt").path
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        for cut in [ChunkCut.anyCharacter, .lineStart] {
            for size in [16, 17, 23, 1000] {
                let reader = try TextChunkReader(path: path, cut: cut, chunkBytes: size, invalidUTF8: .replace)
                var joined = "", count = 0
                while let chunk = try reader.next() {
                    joined += chunk.text
                    count += chunk.replacements
                }
                XCTAssertEqual(joined, text, "\(cut), chunks of \(size)")
                XCTAssertEqual(count, replacements)
            }
            let partition = try CorpusPartition(files: [path], cut: cut)
            for ranks in 2...4 {
                let encoder = CorpusEncoder(pieces: try (0..<ranks).flatMap { try partition.pieces(rank: $0, of: ranks) },
                                            cut: cut, chunkBytes: 16, workers: 1, invalidUTF8: .replace, progress: nil)
                var joined = ""
                try encoder.forEachChunk(phase: .encoding) { _, chunk in joined += chunk.text }
                XCTAssertEqual(joined, text, "\(cut), \(ranks) shares")
            }
        }
        XCTAssertEqual(replacements, 33)
    }

    func testErrorPolicyNamesTheFirstBadByteInAnyRange() throws {
        var bytes = Array(String(repeating: "abcdefgh\n", count: 30).utf8)
        bytes[200] = 0xE6  // a lead byte followed by ASCII: ill-formed at 200
        let path = folder.appendingPathComponent("bad.txt").path
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let partition = try CorpusPartition(files: [path], cut: .anyCharacter)
        for ranks in 1...4 {
            let failures = try (0..<ranks).compactMap { rank -> DataError? in
                let encoder = CorpusEncoder(pieces: try partition.pieces(rank: rank, of: ranks), cut: .anyCharacter,
                                            chunkBytes: 16, workers: 1, progress: nil)
                do { _ = try encoder.characterSet(); return nil } catch { return error as? DataError }
            }
            XCTAssertEqual(failures, [.notUTF8(path: path, byteOffset: 200)], "\(ranks) ranks")
        }
    }
}
