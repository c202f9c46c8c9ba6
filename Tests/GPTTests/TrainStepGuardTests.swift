import XCTest
@testable import GPT

/// `StepGuard`'s decisions: non-finite values always skip; z-scores over a full window of
/// accepted steps only; skipped values never enter the window; the counters.
final class TrainStepGuardTests: XCTestCase {
    func testNonFiniteLossOrNormIsSkippedAndCounted() {
        var guarded = StepGuard()
        XCTAssertNil(guarded.check(loss: 3, gradientNorm: 1))
        XCTAssertEqual(guarded.check(loss: .nan, gradientNorm: 1)?.code, "loss_not_finite")
        XCTAssertEqual(guarded.check(loss: 3, gradientNorm: .infinity), .normNotFinite(.infinity))
        XCTAssertEqual(guarded.consecutiveSkips, 2)
        XCTAssertNil(guarded.check(loss: 2.9, gradientNorm: 1))
        XCTAssertEqual(guarded.consecutiveSkips, 0)
        XCTAssertEqual(guarded.totalSkips, 2)
    }

    /// Losses alternating 2.9 and 3.1 (mean 3, deviation 0.1): 3.25 is 2.5 deviations above, 3.35 3.5.
    func testLossSpikeIsSkippedOnceTheWindowIsFull() {
        var guarded = StepGuard(lossZScore: 3)
        for i in 0..<(StepGuard.windowSize - 1) {
            XCTAssertNil(guarded.check(loss: i % 2 == 0 ? 2.9 : 3.1, gradientNorm: 1))
        }
        XCTAssertNil(guarded.check(loss: 100, gradientNorm: 1), "no z-score before the window is full")
        var full = StepGuard(lossZScore: 3)
        for i in 0..<StepGuard.windowSize { _ = full.check(loss: i % 2 == 0 ? 2.9 : 3.1, gradientNorm: 1) }
        XCTAssertNil(full.check(loss: 3.25, gradientNorm: 1))
        // 3.25 entered the window: mean and deviation move a little; 3.5 is far above either way.
        guard case .lossSpike(let z)? = full.check(loss: 3.5, gradientNorm: 1) else { return XCTFail("3.5 must be skipped") }
        XCTAssertEqual(z, 4.9, accuracy: 0.2)
        // The spike did not enter the window: the same spike is skipped again with the same z-score.
        XCTAssertEqual(full.check(loss: 3.5, gradientNorm: 1), .lossSpike(zScore: z))
        XCTAssertEqual(full.consecutiveSkips, 2)
        // Below the mean is never a spike.
        XCTAssertNil(full.check(loss: 1, gradientNorm: 1))
    }

    func testNormSpikeAndZScoreOff() {
        var guarded = StepGuard(gradZScore: 3)
        var off = StepGuard()
        for i in 0..<StepGuard.windowSize {
            _ = guarded.check(loss: 3, gradientNorm: i % 2 == 0 ? 0.9 : 1.1)
            _ = off.check(loss: i % 2 == 0 ? 2.9 : 3.1, gradientNorm: i % 2 == 0 ? 0.9 : 1.1)
        }
        XCTAssertEqual(guarded.check(loss: 3, gradientNorm: 2)?.code, "grad_norm_spike")
        XCTAssertNil(guarded.check(loss: 50, gradientNorm: 1), "the loss test is off")
        XCTAssertNil(off.check(loss: 50, gradientNorm: 50), "both tests off")
    }

    func testPoisonHookParsesOneStepOrARange() {
        XCTAssertEqual(Trainer.poisonedSteps("7"), 7...7)
        XCTAssertEqual(Trainer.poisonedSteps("3-5"), 3...5)
        XCTAssertNil(Trainer.poisonedSteps(nil))
        XCTAssertNil(Trainer.poisonedSteps("5-x"))
        XCTAssertNil(Trainer.poisonedSteps("5-3"))
    }

    func testSkipRecordRoundTrips() {
        let record = MetricsRecord(event: .skip, iter: 3, loss: .nan, lr: 1e-3, tokensPerSecond: .nan, mfu: .nan,
                                   elapsed: 1, gradNorm: 2.5, reason: "loss_not_finite", skipped: 1)
        XCTAssertEqual(record.jsonLine, "{\"event\":\"skip\",\"iter\":3,\"loss\":null,\"grad_norm\":2.5,\"reason\":\"loss_not_finite\",\"skipped\":1,\"lr\":0.001,\"tokens_per_sec\":null,\"mfu\":null,\"elapsed\":1.0}")
        let read = MetricsRecord(jsonLine: record.jsonLine)
        XCTAssertEqual(read?.event, .skip)
        XCTAssertEqual(read?.gradNorm, 2.5)
        XCTAssertEqual(read?.reason, "loss_not_finite")
        XCTAssertEqual(read?.skipped, 1)
        XCTAssertTrue(read?.loss.isNaN == true)
    }
}
