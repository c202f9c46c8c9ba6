import XCTest
@testable import Parallel

/// The single-process communicator: every collective behaves as MPI would with one rank.
final class LocalCommunicatorTests: XCTestCase {
    let comm = LocalCommunicator()

    func testIdentity() {
        XCTAssertEqual(comm.rank, 0)
        XCTAssertEqual(comm.size, 1)
        XCTAssertEqual(comm.localRank, 0)
        XCTAssertEqual(comm.localSize, 1)
        XCTAssertFalse(comm.usesMPI)
        XCTAssertNoThrow(try comm.barrier())
    }

    func testBroadcastFromRootZeroKeepsValues() throws {
        var x: [Float] = [1.5, -2, 3]
        try comm.broadcast(&x, root: 0)
        XCTAssertEqual(x, [1.5, -2, 3])
    }

    func testBroadcastFromAnotherRootIsAUsageError() {
        var x: [Double] = [1]
        XCTAssertThrowsError(try comm.broadcast(&x, root: 1)) { error in
            XCTAssertTrue(error is CollectiveUsageError)
            XCTAssertEqual("\(error)", "broadcast: root 1 is not a rank (size 1)")
        }
        XCTAssertEqual(x, [1])
    }

    func testAllreduceEveryOpLeavesOneRanksValues() throws {
        for op in ReductionOp.allCases {
            var f: [Float] = [0.1, -7, 1e30]
            try comm.allreduce(&f, op: op)
            XCTAssertEqual(f, [0.1, -7, 1e30], "\(op)")

            var d: [Double] = [0.1, -7]
            try comm.allreduce(&d, op: op)
            XCTAssertEqual(d, [0.1, -7], "\(op)")

            var i32: [Int32] = [Int32.max, -3]
            try comm.allreduce(&i32, op: op)
            XCTAssertEqual(i32, [Int32.max, -3], "\(op)")

            var i64: [Int64] = [Int64.min, 5]
            try comm.allreduce(&i64, op: op)
            XCTAssertEqual(i64, [Int64.min, 5], "\(op)")

            var u64: [UInt64] = [UInt64.max]
            try comm.allreduce(&u64, op: op)
            XCTAssertEqual(u64, [UInt64.max], "\(op)")
        }
        XCTAssertEqual(try comm.allreduce(Float(2.5), op: .average), 2.5)
        XCTAssertEqual(try comm.allreduce(Int64(-9), op: .sum), -9)
    }

    func testAllreduceOnABufferPointerIsInPlace() throws {
        var x: [Float] = [3, 4]
        try x.withUnsafeMutableBufferPointer { try comm.allreduce($0, op: .sum) }
        XCTAssertEqual(x, [3, 4])
        // An empty buffer (nil base address) is fine too.
        var empty: [Float] = []
        try comm.allreduce(&empty, op: .max)
        XCTAssertEqual(empty, [])
    }

    func testStartAllreduceIsCompleteAtOnce() throws {
        var x: [Double] = [1, 2, 3]
        try x.withUnsafeMutableBufferPointer { buffer in
            let request = try comm.startAllreduce(buffer, op: .average)
            XCTAssertTrue(try request.test())
            try request.wait()
            try request.wait()
            XCTAssertTrue(try request.test())
        }
        XCTAssertEqual(x, [1, 2, 3])
    }

    func testReduceScatterCopiesTheOneBlock() throws {
        XCTAssertEqual(try comm.reduceScatter([Float](arrayLiteral: 1, 2, 3), op: .sum), [1, 2, 3])
        XCTAssertEqual(try comm.reduceScatter([Double](arrayLiteral: 4, 5), op: .average), [4, 5])
        XCTAssertEqual(try comm.reduceScatter([Int32](arrayLiteral: 7), op: .max), [7])
    }

    func testReduceScatterWithWrongCountsThrows() {
        let input: [Float] = [1, 2, 3]
        var output: [Float] = [0, 0]
        XCTAssertThrowsError(try input.withUnsafeBufferPointer { inBuffer in
            try output.withUnsafeMutableBufferPointer { try comm.reduceScatter(inBuffer, into: $0, op: .sum) }
        }) { error in
            XCTAssertEqual("\(error)", "reduceScatter: input has 3 elements, expected 1 ranks x 2 output elements = 2")
            XCTAssertEqual((error as? LocalizedError)?.errorDescription, "\(error)")
        }
        XCTAssertEqual(output, [0, 0])
    }

    func testAllgatherCopiesTheOneContribution() throws {
        XCTAssertEqual(try comm.allgather([Float](arrayLiteral: 9, 8)), [9, 8])
        XCTAssertEqual(try comm.allgather([UInt64](arrayLiteral: 1 << 63)), [1 << 63])
        // In place (input and output the same memory) leaves the values.
        var x: [Int64] = [4, 5]
        try x.withUnsafeMutableBufferPointer { try comm.allgather(UnsafeBufferPointer($0), into: $0) }
        XCTAssertEqual(x, [4, 5])
    }

    func testAllgatherWithWrongCountsThrows() {
        let input: [Double] = [1, 2]
        var output: [Double] = [0, 0, 0]
        XCTAssertThrowsError(try input.withUnsafeBufferPointer { inBuffer in
            try output.withUnsafeMutableBufferPointer { try comm.allgather(inBuffer, into: $0) }
        }) { error in
            XCTAssertTrue(error is CollectiveUsageError)
            XCTAssertEqual("\(error)", "allgather: output has 3 elements, expected 1 ranks x 2 input elements = 2")
        }
    }

    // MARK: Per-rank block sizes

    func testReduceScatterWithCountsCopiesTheOneBlock() throws {
        let input: [Float] = [1.5, -2, 3]
        var output: [Float] = [0, 0, 0]
        for op in ReductionOp.allCases {
            output = [0, 0, 0]
            try input.withUnsafeBufferPointer { inBuffer in
                try output.withUnsafeMutableBufferPointer { try comm.reduceScatter(inBuffer, into: $0, counts: [3], op: op) }
            }
            XCTAssertEqual(output, [1.5, -2, 3], "\(op)")
        }
        // An empty block, nil base addresses included.
        try comm.reduceScatter(UnsafeBufferPointer<Double>(start: nil, count: 0),
                               into: UnsafeMutableBufferPointer(start: nil, count: 0), counts: [0], op: .average)
    }

    func testAllgatherInPlaceWithCountsLeavesTheOneBlock() throws {
        var x: [Int64] = [4, 5, 6]
        try x.withUnsafeMutableBufferPointer { try comm.allgather(inPlace: $0, counts: [3]) }
        XCTAssertEqual(x, [4, 5, 6])
        try comm.allgather(inPlace: UnsafeMutableBufferPointer<Float>(start: nil, count: 0), counts: [0])
    }

    /// Runs a reduce-scatter with counts over fresh buffers and returns its error text.
    private func reduceScatterError(input: Int, output: Int, counts: [Int]) -> String? {
        let inArray = [Float](repeating: 1, count: input)
        var outArray = [Float](repeating: 0, count: output)
        do {
            try inArray.withUnsafeBufferPointer { inBuffer in
                try outArray.withUnsafeMutableBufferPointer { try comm.reduceScatter(inBuffer, into: $0, counts: counts, op: .sum) }
            }
            return nil
        } catch let error as CollectiveUsageError {
            XCTAssertEqual(outArray, [Float](repeating: 0, count: output), "output untouched")
            return error.description
        } catch {
            return "unexpected \(type(of: error)): \(error)"
        }
    }

    func testReduceScatterWithWrongCountsThrowsUsageErrors() {
        XCTAssertEqual(reduceScatterError(input: 2, output: 1, counts: [1, 1]),
                       "reduceScatter: counts has 2 entries, expected one per rank (1)")
        XCTAssertEqual(reduceScatterError(input: 2, output: 1, counts: []),
                       "reduceScatter: counts has 0 entries, expected one per rank (1)")
        XCTAssertEqual(reduceScatterError(input: 0, output: 0, counts: [-2]),
                       "reduceScatter: counts[0] is -2, a block cannot be negative")
        XCTAssertEqual(reduceScatterError(input: 3, output: 2, counts: [2]),
                       "reduceScatter: input has 3 elements, expected the sum of counts = 2")
        XCTAssertEqual(reduceScatterError(input: 2, output: 3, counts: [2]),
                       "reduceScatter: output has 3 elements, expected counts[0] = 2 (this rank's block)")
    }

    func testAllgatherInPlaceWithWrongCountsThrowsUsageErrors() {
        func error(buffer: Int, counts: [Int]) -> String? {
            var x = [Double](repeating: 7, count: buffer)
            do {
                try x.withUnsafeMutableBufferPointer { try comm.allgather(inPlace: $0, counts: counts) }
                return nil
            } catch {
                XCTAssertTrue(error is CollectiveUsageError, "\(type(of: error))")
                XCTAssertEqual((error as? LocalizedError)?.errorDescription, "\(error)")
                return "\(error)"
            }
        }
        XCTAssertEqual(error(buffer: 2, counts: [1, 1]), "allgather: counts has 2 entries, expected one per rank (1)")
        XCTAssertEqual(error(buffer: 1, counts: [-1]), "allgather: counts[0] is -1, a block cannot be negative")
        XCTAssertEqual(error(buffer: 3, counts: [2]), "allgather: buffer has 3 elements, expected the sum of counts = 2")
        XCTAssertEqual(error(buffer: 2, counts: [2]), nil)
    }

    func testCountSumOverflowIsAUsageErrorNotATrap() {
        XCTAssertThrowsError(try CollectiveChecks.allgather(bufferCount: 0, counts: [Int.max, 1], size: 2)) { error in
            XCTAssertEqual("\(error)", "allgather: the sum of counts overflows Int")
        }
        XCTAssertThrowsError(try CollectiveChecks.reduceScatter(inputCount: 0, outputCount: 0, counts: [1, Int.max],
                                                                 rank: 1, size: 2)) { error in
            XCTAssertEqual("\(error)", "reduceScatter: the sum of counts overflows Int")
        }
        // Per-rank blocks on several ranks: rank 1's block is counts[1].
        XCTAssertNoThrow(try CollectiveChecks.reduceScatter(inputCount: 9, outputCount: 3, counts: [2, 3, 4], rank: 1, size: 3))
        XCTAssertThrowsError(try CollectiveChecks.reduceScatter(inputCount: 9, outputCount: 2, counts: [2, 3, 4], rank: 1, size: 3))
    }
}

/// The pieces that decide how an average is formed and which datatype carries an element.
final class CollectiveElementTests: XCTestCase {
    func testFloatAverageIsTheSumDividedOnce() {
        var x: [Float] = [7, 1, 0.1]
        x.withUnsafeMutableBufferPointer { Float.divide($0, by: 3) }
        // One correctly rounded division per element, not a multiplication by a rounded 1/3.
        XCTAssertEqual(x, [Float(7) / 3, Float(1) / 3, Float(0.1) / 3])
        XCTAssertEqual(x[0].bitPattern, (Float(7) / Float(3)).bitPattern)
    }

    func testIntegerAverageTruncatesTowardZero() {
        var x: [Int32] = [7, -7, 2]
        x.withUnsafeMutableBufferPointer { Int32.divide($0, by: 2) }
        XCTAssertEqual(x, [3, -3, 1])
        var u: [UInt64] = [10]
        u.withUnsafeMutableBufferPointer { UInt64.divide($0, by: 3) }
        XCTAssertEqual(u, [3])
    }

    func testDatatypes() {
        XCTAssertEqual(Float.collectiveDatatype, .float32)
        XCTAssertEqual(Double.collectiveDatatype, .float64)
        XCTAssertEqual(Int32.collectiveDatatype, .int32)
        XCTAssertEqual(Int64.collectiveDatatype, .int64)
        XCTAssertEqual(UInt64.collectiveDatatype, .uint64)
        XCTAssertEqual(Float.collectiveDatatype.byteCount, MemoryLayout<Float>.size)
        XCTAssertEqual(Double.collectiveDatatype.byteCount, MemoryLayout<Double>.size)
        XCTAssertEqual(Int32.collectiveDatatype.byteCount, 4)
        XCTAssertEqual(UInt64.collectiveDatatype.byteCount, 8)
    }

    func testMPIErrorIsOneLineNamingTheCall() {
        let error = MPIError(operation: "MPI_Bcast", code: 8, message: "MPI_ERR_ROOT: invalid root")
        XCTAssertEqual(error.description, "MPI_Bcast failed: MPI_ERR_ROOT: invalid root (MPI error code 8)")
        XCTAssertEqual(error.errorDescription, error.description)
    }
}
