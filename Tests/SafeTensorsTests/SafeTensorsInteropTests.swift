import Foundation
import SafeTensors
import XCTest

/// A file written by Python's `safetensors` library (Fixtures/make_safetensors_fixture.py):
/// F16 and BF16 convert to the same Float32 values torch gives.
final class SafeTensorsInteropTests: XCTestCase {
    func fixture() throws -> SafeTensorsFile {
        let url = try XCTUnwrap(Bundle.module.url(forResource: "dtypes", withExtension: "safetensors", subdirectory: "Fixtures"))
        return try SafeTensorsFile(path: url.path)
    }

    func testHeaderOfAFileWrittenByPython() throws {
        let file = try fixture()
        XCTAssertEqual(file.metadata, ["format": "pt", "note": "gpt-dist fixture"])
        XCTAssertEqual(file.entry(named: "values.f16")?.dtype, .f16)
        XCTAssertEqual(file.entry(named: "values.bf16")?.dtype, .bf16)
        XCTAssertEqual(file.entry(named: "grid.bf16")?.shape, [2, 3, 4])
        XCTAssertEqual(file.entry(named: "scalar.f32")?.shape, [])
        XCTAssertEqual(file.entry(named: "counts.i64")?.dtype, .i64)
        XCTAssertEqual(file.entries.count, 9)
    }

    func testHalfPrecisionConvertsAsTorchDoes() throws {
        let file = try fixture()
        let f32 = try file.floats("values.f32")
        XCTAssertEqual(f32[2], 1.0)
        XCTAssertEqual(f32[3], -2.5)
        XCTAssertEqual(try file.floats("values.f16").map(\.bitPattern), try file.floats("values.f16_as_f32").map(\.bitPattern))
        XCTAssertEqual(try file.floats("values.bf16").map(\.bitPattern), try file.floats("values.bf16_as_f32").map(\.bitPattern))
        // The halves are near the float32 values (subnormal 5.96e-8 included), not equal to them.
        let halves = try file.floats("values.f16")
        XCTAssertEqual(halves[7], 0x1p-24)
        XCTAssertEqual(halves[8], 65504)
        XCTAssertNotEqual(halves[4], f32[4])
        XCTAssertEqual(halves[4], f32[4], accuracy: 2e-3)
        XCTAssertEqual(try file.floats("scalar.f32"), [7])
        let grid = try file.floats("grid.f32"), coarse = try file.floats("grid.bf16")
        for (x, y) in zip(grid, coarse) { XCTAssertEqual(x, y, accuracy: abs(x) / 128 + 1e-6) }
        XCTAssertThrowsError(try file.floats("counts.i64")) { error in
            XCTAssertEqual((error as? SafeTensorsError)?.kind, .unsupportedDType)
        }
    }
}
