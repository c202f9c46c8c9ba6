import XCTest
@testable import GPT
import TestSupport

final class DataChunkingTests: XCTestCase {
    var folder: URL!
    override func setUpWithError() throws { folder = try makeTemporaryDirectory("data-chunking") }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: folder) }

    private func write(_ name: String, _ bytes: [UInt8]) throws -> String {
        let url = folder.appendingPathComponent(name)
        try Data(bytes).write(to: url)
        return url.path
    }

    private func chunks(_ path: String, _ cut: ChunkCut, size: Int) throws -> [TextChunk] {
        let reader = try TextChunkReader(path: path, cut: cut, chunkBytes: size)
        var out: [TextChunk] = []
        while let chunk = try reader.next() { out.append(chunk) }
        return out
    }

    func testCharacterChunksCoverTheFileAndNeverSplitAScalar() throws {
        let text = String(repeating: "añ日🙂\r\n", count: 200)
        let path = try write("a.txt", Array(text.utf8))
        let parts = try chunks(path, .anyCharacter, size: 37)
        XCTAssertGreaterThan(parts.count, 10)
        XCTAssertEqual(parts.map(\.text).joined(), text)
        var offset = 0
        for part in parts {
            XCTAssertEqual(part.byteOffset, offset)
            XCTAssertEqual(part.byteCount, part.text.utf8.count)
            XCTAssertFalse(part.text.unicodeScalars.contains("\u{FFFD}"))
            offset += part.byteCount
        }
    }

    func testLineStartChunksCutOnlyBeforeNewlineFollowedByVisibleCharacter() throws {
        let text = (0..<300).map { i in i % 3 == 0 ? "word  \n\n  indented \(i)\n" : "line \(i)!\r\n" }.joined()
        let path = try write("b.txt", Array(text.utf8))
        let parts = try chunks(path, .lineStart, size: 64)
        XCTAssertGreaterThan(parts.count, 10)
        XCTAssertEqual(parts.map(\.text).joined(), text)
        for part in parts.dropFirst() {
            let scalars = Array(part.text.unicodeScalars)
            XCTAssertEqual(scalars[0], "\n")
            XCTAssertTrue(scalars[1].isASCII && !scalars[1].properties.isWhitespace, "\(part.text)")
        }
    }

    func testLineStartWithoutAnyCutIsOneChunk() throws {
        let text = String(repeating: "no newline here ", count: 100) + "\n\n  \n"
        let path = try write("c.txt", Array(text.utf8))
        let parts = try chunks(path, .lineStart, size: 32)
        XCTAssertEqual(parts.map(\.text), [text])
    }

    func testEmptyFileIsAnError() throws {
        let path = try write("empty.txt", [])
        XCTAssertThrowsError(try chunks(path, .anyCharacter, size: 64)) { error in
            XCTAssertEqual(error as? DataError, .emptyInput(path: path))
            XCTAssertTrue("\(error)".hasSuffix("empty.txt: input is empty"))
        }
    }

    func testNonUTF8FileNamesTheByteOffset() throws {
        var bytes = Array(String(repeating: "abcdefgh\n", count: 50).utf8)
        bytes[301] = 0xFF
        let path = try write("latin.txt", bytes)
        for size in [16, 1000] {
            XCTAssertThrowsError(try chunks(path, .anyCharacter, size: size)) { error in
                XCTAssertEqual(error as? DataError, .notUTF8(path: path, byteOffset: 301))
                XCTAssertEqual("\(error)", "\(path): not UTF-8 text (invalid byte at offset 301)")
            }
        }
        // A multi-byte sequence cut short by the end of the file.
        let truncated = try write("cut.txt", Array("abc".utf8) + [0xE6, 0x97])
        XCTAssertThrowsError(try chunks(truncated, .anyCharacter, size: 64)) { error in
            XCTAssertEqual(error as? DataError, .notUTF8(path: truncated, byteOffset: 3))
        }
    }

    func testUTF8ValidatorRejectsOverlongsAndSurrogates() {
        XCTAssertNil(UTF8Validation.firstInvalidOffset(Array("aé日🙂".utf8)))
        XCTAssertEqual(UTF8Validation.firstInvalidOffset([0x61, 0xC0, 0x80]), 1)        // overlong
        XCTAssertEqual(UTF8Validation.firstInvalidOffset([0xED, 0xA0, 0x80]), 0)        // surrogate
        XCTAssertEqual(UTF8Validation.firstInvalidOffset([0xF4, 0x90, 0x80, 0x80]), 0)  // > U+10FFFF
        XCTAssertEqual(UTF8Validation.firstInvalidOffset([0x61, 0x62, 0x80]), 2)        // lone continuation
    }

    func testFolderInputsAreSortedRegularNonHiddenFiles() throws {
        _ = try write("b.txt", Array("b".utf8))
        _ = try write("a.md", Array("a".utf8))
        _ = try write(".hidden", Array("h".utf8))
        try FileManager.default.createDirectory(at: folder.appendingPathComponent("sub"), withIntermediateDirectories: false)
        let files = try InputFiles.resolve([folder.path])
        XCTAssertEqual(files.map { URL(fileURLWithPath: $0).lastPathComponent }, ["a.md", "b.txt"])
        XCTAssertThrowsError(try InputFiles.resolve([folder.appendingPathComponent("sub").path]))
        XCTAssertThrowsError(try InputFiles.resolve([folder.appendingPathComponent("nope").path]))
    }

    func testFIFOsAreNotInputs() throws {
        let fifo = folder.appendingPathComponent("pipe").path
        XCTAssertEqual(mkfifo(fifo, 0o600), 0)
        _ = try write("a.txt", Array("a".utf8))
        // Skipped inside a folder (reading one would block until something writes to it)...
        XCTAssertEqual(try InputFiles.resolve([folder.path]).map { URL(fileURLWithPath: $0).lastPathComponent }, ["a.txt"])
        // ...and refused when named.
        XCTAssertThrowsError(try InputFiles.resolve([fifo])) { error in
            XCTAssertEqual(error as? DataError, .unreadableInput(path: fifo, reason: "not a regular file"))
        }
    }
}
