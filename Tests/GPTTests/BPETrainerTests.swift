import Foundation
import XCTest
@testable import GPT

final class BPETrainerTests: XCTestCase {
    /// The words of Hugging Face's own trainer unit test; the expected merges are what
    /// `ByteLevelBPETokenizer.train_from_iterator` (tokenizers 0.23.3) learns from this line.
    func testHuggingFaceWordCountExample() throws {
        var trainer = BPETrainer(vocabularySize: 1000, minimumFrequency: 2, specialTokens: [])
        trainer.add("roses are red voilets are blue BERT is big and so is GPT-2")
        let tokenizer = try trainer.train()
        // Ties (count 2 for all of these) go to the pair with the smaller ids.
        XCTAssertEqual(tokenizer.mergesText, "#version: 0.2\nr e\nĠ a\ni s\nĠ b\nĠ is\nĠa re\n")
        XCTAssertEqual(tokenizer.vocabularySize, 262)
    }

    func testTrainedMergesWriteReloadAndRoundTrip() throws {
        let sample = try BPEReference.sample
        var trainer = BPETrainer(vocabularySize: 350)
        trainer.add(sample)
        let tokenizer = try trainer.train(source: "sample")
        XCTAssertEqual(tokenizer.vocabularySize, 350)
        XCTAssertEqual(tokenizer.endOfTextID, 0)

        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("bpe-train-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        try tokenizer.write(to: directory)
        let names = try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted()
        XCTAssertEqual(names, ["merges.txt", "vocab.json"])  // no temporary files left
        let reloaded = try BPETokenizer.load(directory: directory)
        XCTAssertEqual(reloaded.symbolTexts, tokenizer.symbolTexts)
        XCTAssertEqual(try reloaded.encode(sample), try tokenizer.encode(sample))
        XCTAssertEqual(reloaded.decode(try reloaded.encode(sample)), sample)
        for text in BPETokenizerTests.unicodeTexts {
            XCTAssertEqual(reloaded.decode(try reloaded.encode(text)), text)
        }
        // Learned merges compress the text they were learned from.
        XCTAssertLessThan(try reloaded.encode(sample).count, sample.utf8.count * 3 / 4)

        XCTAssertThrowsError(try tokenizer.write(to: directory)) { error in
            XCTAssertTrue("\(error)".hasSuffix("vocab.json: already exists (use --force to replace it)"), "\(error)")
        }
        try tokenizer.write(to: directory, overwrite: true)
    }

    func testTooSmallVocabularyIsAnError() {
        var trainer = BPETrainer(vocabularySize: 100)
        trainer.add("hello")
        XCTAssertThrowsError(try trainer.train(source: "x")) { error in
            XCTAssertEqual("\(error)", "x: a vocabulary size of 100 is too small: the 1 special token(s) and 256 byte symbols need 257")
        }
    }

    func testStopsWhenNoPairIsFrequentEnough() throws {
        var trainer = BPETrainer(vocabularySize: 1000, minimumFrequency: 2)
        trainer.add("abab cd")
        let tokenizer = try trainer.train()
        // "ab" occurs twice; "ab"+"ab" then once, so only one merge is learned.
        XCTAssertEqual(tokenizer.mergesText, "#version: 0.2\na b\n")
        XCTAssertEqual(tokenizer.vocabularySize, 258)
    }
}
