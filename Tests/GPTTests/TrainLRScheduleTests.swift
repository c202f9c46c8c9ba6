import XCTest
@testable import GPT

/// The schedule against values computed by nanoGPT's get_lr (train.py) in Python.
final class TrainLRScheduleTests: XCTestCase {
    let shakespeare = LRSchedule(learningRate: 1e-3, minLR: 1e-4, warmupIterations: 100, decayIterations: 2000)

    func testWarmupIsLinearFromOneStepAboveZero() {
        XCTAssertEqual(shakespeare.learningRate(at: 0), 9.900990099009901e-06, accuracy: 1e-18)
        XCTAssertEqual(shakespeare.learningRate(at: 1), 1.9801980198019803e-05, accuracy: 1e-18)
        XCTAssertEqual(shakespeare.learningRate(at: 50), 0.000504950495049505, accuracy: 1e-18)
        XCTAssertEqual(shakespeare.learningRate(at: 99), 0.0009900990099009901, accuracy: 1e-18)
    }

    func testCosineDecayToMinimum() {
        XCTAssertEqual(shakespeare.learningRate(at: 100), 0.001, accuracy: 1e-18)
        XCTAssertEqual(shakespeare.learningRate(at: 101), 0.0009999993848585915, accuracy: 1e-17)
        XCTAssertEqual(shakespeare.learningRate(at: 575), 0.0008681980515339464, accuracy: 1e-17)
        XCTAssertEqual(shakespeare.learningRate(at: 1050), 0.00055, accuracy: 1e-17)
        XCTAssertEqual(shakespeare.learningRate(at: 1999), 0.00010000061514140841, accuracy: 1e-17)
        XCTAssertEqual(shakespeare.learningRate(at: 2000), 0.0001, accuracy: 1e-18)
    }

    func testMinimumAfterDecay() {
        XCTAssertEqual(shakespeare.learningRate(at: 2001), 1e-4)
        XCTAssertEqual(shakespeare.learningRate(at: 5000), 1e-4)
    }

    func testGPT2Defaults() {
        let schedule = LRSchedule(TrainConfig())
        XCTAssertEqual(schedule.learningRate(at: 0), 2.998500749625187e-07, accuracy: 1e-20)
        XCTAssertEqual(schedule.learningRate(at: 300_000), 0.0003314184383189326, accuracy: 1e-16)
    }

    func testConstantWhenDecayIsOff() {
        var config = TrainConfig()
        config.decay_lr = false
        config.learning_rate = 3e-4
        let schedule = LRSchedule(config)
        for it in [0, 10, 2000, 1_000_000] { XCTAssertEqual(schedule.learningRate(at: it), 3e-4) }
    }
}
