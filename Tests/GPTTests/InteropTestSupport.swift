import Foundation
@testable import GPT
import SafeTensors
import XCTest

/// The Hugging Face fixture (Fixtures/make_hf_gpt2_fixture.py) and scratch folders.
class InteropTestCase: XCTestCase {
    var folder: URL!

    override func setUpWithError() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("interop-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: folder)
    }

    /// `Fixtures/hf_gpt2`: a tiny GPT2LMHeadModel as transformers saves it.
    var fixtureDirectory: String {
        get throws {
            try XCTUnwrap(Bundle.module.url(forResource: "hf_gpt2", withExtension: nil, subdirectory: "Fixtures")).path
        }
    }

    /// A copy of the fixture directory in the scratch folder, to change.
    func fixtureCopy(_ name: String = "copy") throws -> String {
        let copy = folder.appendingPathComponent(name).path
        try FileManager.default.copyItem(atPath: try fixtureDirectory, toPath: copy)
        return copy
    }

    /// Rewrites the copy's config.json with `change` applied to its keys.
    func editConfig(_ directory: String, _ change: (inout [String: Any]) -> Void) throws {
        let path = (directory as NSString).appendingPathComponent("config.json")
        var table = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any])
        change(&table)
        try JSONSerialization.data(withJSONObject: table).write(to: URL(fileURLWithPath: path))
    }

    /// The error `body` throws, as one line; fails when it does not throw.
    func message(_ body: () throws -> Void, file: StaticString = #filePath, line: UInt = #line) -> String {
        do {
            try body()
        } catch {
            let text = "\(error)"
            XCTAssertFalse(text.contains("\n"), text, file: file, line: line)
            return text
        }
        XCTFail("no error", file: file, line: line)
        return ""
    }
}
