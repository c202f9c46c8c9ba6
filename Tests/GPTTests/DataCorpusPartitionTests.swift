import XCTest
@testable import GPT
import TestSupport

/// How a multi-rank `prepare` divides the corpus: contiguous shares in rank order, balanced by
/// bytes, each boundary at a cut the chunk reader could make.
final class DataCorpusPartitionTests: XCTestCase {
    var folder: URL!
    override func setUpWithError() throws { folder = try makeTemporaryDirectory("data-partition") }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: folder) }

    private func write(_ name: String, _ bytes: [UInt8]) throws -> String {
        let url = folder.appendingPathComponent(name)
        try Data(bytes).write(to: url)
        return url.path
    }

    /// Every rank's pieces for `size` ranks.
    private func shares(_ partition: CorpusPartition, size: Int) throws -> [[FilePiece]] {
        try (0..<size).map { try partition.pieces(rank: $0, of: size) }
    }

    /// Checks the shares of `size` ranks: laid end to end they are the files in order, whole;
    /// every boundary inside a file is a cut `cut` allows; returns where each share starts.
    @discardableResult
    private func checkShares(_ partition: CorpusPartition, size: Int, contents: [String: [UInt8]],
                             file: StaticString = #filePath, line: UInt = #line) throws -> [Int] {
        let all = try shares(partition, size: size)
        var stitched: [(path: String, bytes: [UInt8])] = []
        var starts: [Int] = []
        var position = 0
        for share in all {
            starts.append(position)
            for piece in share {
                let range = try XCTUnwrap(piece.bytes)
                let bytes = contents[piece.path]!
                // A cut inside a file is one the chunk reader could make.
                for boundary in [range.lowerBound, range.upperBound] where boundary > 0 && boundary < bytes.count {
                    XCTAssertTrue(partition.cut.allowsCut(before: boundary, in: bytes),
                                  "\(size) ranks: cut at \(boundary) of \(piece.path)", file: file, line: line)
                }
                if let last = stitched.last, last.path == piece.path {
                    stitched[stitched.count - 1].bytes += bytes[range]
                } else {
                    stitched.append((piece.path, Array(bytes[range])))
                }
                position += range.count
            }
        }
        XCTAssertEqual(stitched.map(\.path), partition.files, "\(size) ranks", file: file, line: line)
        XCTAssertEqual(stitched.map(\.bytes), partition.files.map { contents[$0]! }, "\(size) ranks", file: file, line: line)
        return starts
    }

    func testSharesCoverTheCorpusAndCutOnlyWhereChunksMayEnd() throws {
        var contents: [String: [UInt8]] = [:]
        var files: [String] = []
        let texts = [String(repeating: "añ日🙂 word\r\n", count: 40),
                     (0..<60).map { i in i % 4 == 0 ? "  \n\n  indented \(i)\n<|endoftext|>\n" : "line \(i)!\n" }.joined(),
                     "short\n",
                     String(repeating: "x", count: 300) + "\nY"]
        for (i, text) in texts.enumerated() {
            let path = try write("f\(i).txt", Array(text.utf8))
            files.append(path)
            contents[path] = Array(text.utf8)
        }
        for cut in [ChunkCut.anyCharacter, .lineStart] {
            var partition = try CorpusPartition(files: files, cut: cut)
            XCTAssertEqual(partition.totalBytes, texts.reduce(0) { $0 + $1.utf8.count })
            for blockBytes in [1, 7, 1 << 16] {
                partition.blockBytes = blockBytes  // a cut found across block edges is the same cut
                for size in 1...7 {
                    let starts = try checkShares(partition, size: size, contents: contents)
                    XCTAssertEqual(starts, try (0..<size).map { try partition.firstCut(atOrAfter: partition.target($0, of: size)) })
                }
            }
        }
    }

    func testOneRankReadsWholeFiles() throws {
        let a = try write("a.txt", Array("hello\nWorld\n".utf8)), b = try write("b.txt", Array("x".utf8))
        let partition = try CorpusPartition(files: [a, b], cut: .lineStart)
        XCTAssertEqual(try partition.pieces(rank: 0, of: 1), [FilePiece(path: a, bytes: 0..<12), FilePiece(path: b, bytes: 0..<1)])
    }

    func testOneFileIsSharedAtLineStarts() throws {
        // 10 lines of 10 bytes: "line N...\n"; lineStart cuts fall before each "\n" followed by "l".
        let text = (0..<10).map { "line \($0)...\n" }.joined()
        XCTAssertEqual(text.utf8.count, 100)
        let path = try write("one.txt", Array(text.utf8))
        let partition = try CorpusPartition(files: [path], cut: .lineStart)
        // Targets 0, 33, 66: the next "\n" before a visible character is at 39 and 69.
        XCTAssertEqual(try shares(partition, size: 3), [[FilePiece(path: path, bytes: 0..<39)],
                                                         [FilePiece(path: path, bytes: 39..<69)],
                                                         [FilePiece(path: path, bytes: 69..<100)]])
        // A character tokenizer may cut at any character: exactly at the targets.
        let chars = try CorpusPartition(files: [path], cut: .anyCharacter)
        XCTAssertEqual(try shares(chars, size: 4).map { $0.map(\.bytes) }, [[0..<25], [25..<50], [50..<75], [75..<100]])
    }

    func testFileWithoutACutGoesToOneRank() throws {
        let a = try write("a.txt", Array(String(repeating: "no newline here ", count: 20).utf8))  // 320 bytes
        let b = try write("b.txt", Array("tail\n".utf8))
        let partition = try CorpusPartition(files: [a, b], cut: .lineStart)
        let all = try shares(partition, size: 3)
        XCTAssertEqual(all, [[FilePiece(path: a, bytes: 0..<320)], [], [FilePiece(path: b, bytes: 0..<5)]])
    }

    func testMultiByteCharactersAreNeverSplit() throws {
        let text = String(repeating: "日", count: 10)  // 30 bytes, cuts every 3
        let path = try write("cjk.txt", Array(text.utf8))
        let partition = try CorpusPartition(files: [path], cut: .anyCharacter)
        // Targets 0, 7, 15, 22 move to the next character start: 9, 15, 24.
        XCTAssertEqual(try shares(partition, size: 4).map { $0.map(\.bytes) }, [[0..<9], [9..<15], [15..<24], [24..<30]])
    }

    func testEmptyFileGoesToExactlyOneRank() throws {
        let a = try write("a.txt", Array(String(repeating: "abcdefghi\n", count: 10).utf8))
        let empty = try write("empty.txt", [])
        let b = try write("b.txt", Array(String(repeating: "abcdefghi\n", count: 10).utf8))
        for files in [[a, empty, b], [empty, a, b], [a, b, empty]] {
            let partition = try CorpusPartition(files: files, cut: .anyCharacter)
            for size in 1...5 {
                let owners = try shares(partition, size: size).enumerated()
                    .filter { $0.element.contains(FilePiece(path: empty, bytes: 0..<0)) }.map(\.offset)
                XCTAssertEqual(owners.count, 1, "\(size) ranks, files \(files)")
            }
        }
        // Read, the empty file is the error it is for one process.
        let partition = try CorpusPartition(files: [a, empty, b], cut: .anyCharacter)
        let owner = try (0..<2).first { try partition.pieces(rank: $0, of: 2).contains(FilePiece(path: empty, bytes: 0..<0)) }
        let encoder = CorpusEncoder(pieces: try partition.pieces(rank: try XCTUnwrap(owner), of: 2), cut: .anyCharacter,
                                    chunkBytes: 64, workers: 1, progress: nil)
        XCTAssertThrowsError(try encoder.characterSet()) { error in
            XCTAssertEqual(error as? DataError, .emptyInput(path: empty))
        }
    }

    func testChunksOfTheSharesAreTheChunksOfTheWholeText() throws {
        let text = (0..<200).map { i in i % 3 == 0 ? "word  \n\n  indented \(i) 日本\n" : "line \(i)!\r\n" }.joined()
        let path = try write("t.txt", Array(text.utf8))
        for cut in [ChunkCut.anyCharacter, .lineStart] {
            let partition = try CorpusPartition(files: [path], cut: cut)
            for size in [2, 3, 5] {
                var joined = ""
                for rank in 0..<size {
                    for piece in try partition.pieces(rank: rank, of: size) {
                        let reader = try TextChunkReader(path: path, cut: cut, chunkBytes: 50, range: piece.bytes)
                        while let chunk = try reader.next() {
                            XCTAssertEqual(chunk.byteOffset, joined.utf8.count)  // file offsets, not share offsets
                            joined += chunk.text
                        }
                    }
                }
                XCTAssertEqual(joined, text, "\(cut), \(size) ranks")
            }
        }
    }

    func testReaderRejectsARangeBeyondTheFile() throws {
        let path = try write("short.txt", Array("abc".utf8))
        XCTAssertThrowsError(try TextChunkReader(path: path, cut: .anyCharacter, range: 0..<10)) { error in
            XCTAssertEqual("\(error)", "\(path): cannot read input: the file has 3 bytes, fewer than the 10 measured before (did it change?)")
        }
    }
}
