import XCTest
@testable import GPT

final class CharTokenizerTests: XCTestCase {
    func testVocabularyIsSortedScalarSetAndRoundTrips() throws {
        let text = "hello, World!\nhe said.\r\n"
        let tokenizer = try CharTokenizer(corpus: text)
        // Python: "".join(sorted(set(text)))
        XCTAssertEqual(tokenizer.vocabulary, "\n\r !,.Wadehilors")
        XCTAssertEqual(tokenizer.vocabularySize, 16)
        XCTAssertEqual(tokenizer.kind, .character)
        let ids = try tokenizer.encode(text)
        // "\r\n" is one Swift Character but two Python characters: two ids.
        XCTAssertEqual(ids.count, text.unicodeScalars.count)
        XCTAssertEqual(Array(ids.suffix(2)), [1, 0])
        XCTAssertEqual(Array(ids.prefix(5)), [10, 9, 12, 12, 13])  // h e l l o
        XCTAssertEqual(tokenizer.decode(ids), text)
    }

    func testUnicodeScalarsAreSortedByCodePointLikePython() throws {
        // e + combining acute accent, CJK, an emoji; Python: sorted(set(s)).
        let text = "caf\u{65}\u{301} 日本 🙂 é"
        let tokenizer = try CharTokenizer(corpus: text)
        XCTAssertEqual(tokenizer.scalars.map(\.value), [0x20, 0x61, 0x63, 0x65, 0x66, 0xE9, 0x301, 0x65E5, 0x672C, 0x1F642])
        XCTAssertEqual(tokenizer.decode(try tokenizer.encode(text)), text)
    }

    func testUnknownCharacterNamesItAndItsPosition() throws {
        let tokenizer = try CharTokenizer(vocabulary: " abc")
        XCTAssertThrowsError(try tokenizer.encode("ab cz")) { error in
            XCTAssertEqual(error as? DataError, .unknownCharacter("z", position: 4))
            XCTAssertEqual("\(error)", "character 'z' (U+007A) at position 4 is not in the tokenizer's vocabulary")
        }
        XCTAssertThrowsError(try tokenizer.encode("a\nb")) { error in
            XCTAssertEqual("\(error)", "character U+000A at position 1 is not in the tokenizer's vocabulary")
        }
    }

    func testStoredVocabularyMustBeSortedAndDistinct() {
        XCTAssertThrowsError(try CharTokenizer(vocabulary: "ba"))
        XCTAssertThrowsError(try CharTokenizer(vocabulary: "aa"))
        XCTAssertThrowsError(try CharTokenizer(vocabulary: ""))
        XCTAssertNoThrow(try CharTokenizer(vocabulary: "\n ab"))
    }

    func testDecodeOutOfRangeIsReplacementCharacter() throws {
        let tokenizer = try CharTokenizer(vocabulary: "ab")
        XCTAssertEqual(tokenizer.decode([0, 7, 1, -1]), "a\u{FFFD}b\u{FFFD}")
    }

    func testBuilderMergesPartialPasses() throws {
        var a = CharVocabularyBuilder(), b = CharVocabularyBuilder()
        a.add("zebra")
        b.add("apple ü")
        a.merge(b)
        XCTAssertEqual(a.scalarCount, 12)
        XCTAssertEqual(String(String.UnicodeScalarView(a.sortedScalars)), " abelprzü")
    }
}
