import XCTest
final class ParallelTestsPlaceholder: XCTestCase { func testNothingYet() {} }
