import Foundation
import XCTest
@testable import GPT

/// Real-data parity with Hugging Face `tokenizers` on tiny Shakespeare (1,115,394 characters):
/// its 4,096-token vocabulary learned by both, and the ids of the whole text.
final class BPEShakespeareTests: XCTestCase {
    struct Expected: Decodable {
        var tokens: Int
        var fnv1a64: UInt64
        var first: [Int32]
    }

    static var folder: URL { BPEReference.folder.appendingPathComponent("shakespeare4096") }

    /// `../shared/data/tinyshakespeare.txt` beside the package, or `/work/shared/data/...`.
    static var corpus: URL? {
        let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
        let candidates = [packageRoot.deletingLastPathComponent().appendingPathComponent("shared/data/tinyshakespeare.txt"),
                          URL(fileURLWithPath: "/work/shared/data/tinyshakespeare.txt")]
        return candidates.first { FileManager.default.fileExists(atPath: $0.path) }
    }

    private func corpusOrSkip() throws -> URL {
        guard let corpus = Self.corpus else {
            throw XCTSkip("tinyshakespeare.txt not found in ../shared/data or /work/shared/data (data file absent on this machine)")
        }
        return corpus
    }

    private static func fnv1a64(_ ids: [Int32]) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for id in ids {
            let u = UInt32(bitPattern: id)
            for shift in stride(from: 0, to: 32, by: 8) {
                h ^= UInt64((u >> UInt32(shift)) & 0xFF)
                h = h &* 0x100_0000_01b3
            }
        }
        return h
    }

    func testEncodingMatchesHuggingFace() throws {
        let corpus = try corpusOrSkip()
        let expected = try JSONDecoder().decode(Expected.self,
                                                from: Data(contentsOf: Self.folder.appendingPathComponent("expected.json")))
        let tokenizer = try BPETokenizer.load(directory: Self.folder)
        XCTAssertEqual(tokenizer.vocabularySize, 4096)
        let text = try BPETokenizer.readTextFile(corpus)
        XCTAssertEqual(text.count, 1_115_394)
        let ids = try tokenizer.encode(text)
        XCTAssertEqual(ids.count, expected.tokens)
        XCTAssertEqual(Array(ids.prefix(20)), expected.first)
        XCTAssertEqual(Self.fnv1a64(ids), expected.fnv1a64)
        XCTAssertEqual(tokenizer.decode(ids), text)
    }

    func testTrainingMatchesHuggingFace() throws {
        let corpus = try corpusOrSkip()
        var trainer = BPETrainer(vocabularySize: 4096)
        try trainer.add(file: corpus)
        let trained = try trainer.train()
        let expected = try BPETokenizer.load(directory: Self.folder)
        XCTAssertEqual(trained.mergeCount, 3839)
        XCTAssertEqual(trained.symbolTexts, expected.symbolTexts)
        XCTAssertEqual(trained.mergesText,
                       try String(contentsOf: Self.folder.appendingPathComponent("merges.txt"), encoding: .utf8))
    }
}
