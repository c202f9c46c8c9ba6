import XCTest
final class GPTTestsPlaceholder: XCTestCase { func testNothingYet() {} }
