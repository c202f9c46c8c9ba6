// parallel-check: runs every collective of the Parallel layer on every rank with rank-dependent
// data and prints one line per check per rank:
//
//     rank=1 size=3 check=allreduce_sum ok=1 value=6.0,12.0,18.0
//
// `--trigger-error` instead makes MPI reject a call (a broadcast from root = size) and prints how
// it surfaced as a Swift error:
//
//     rank=0 size=2 check=mpi_error ok=1 type=MPIError error=MPI_Bcast failed: ...
//
// Exits 1 if any check on this rank failed. Run it alone (one rank, no MPI) or under mpirun/srun.
import Foundation
import Parallel

/// Prints one result line per check and counts the failures.
final class Report {
    let comm: any Communicator
    private(set) var failures = 0

    init(_ comm: any Communicator) { self.comm = comm }

    func line(_ check: String, ok: Bool, _ fields: String) {
        if !ok { failures += 1 }
        print("rank=\(comm.rank) size=\(comm.size) check=\(check) ok=\(ok ? 1 : 0) \(fields)")
        fflush(stdout)
    }

    /// Runs `body`, which returns what it got and what it expected; a thrown error fails the check.
    func check<T: CollectiveElement>(_ name: String, _ body: () throws -> (got: [T], expected: [T])) {
        do {
            let (got, expected) = try body()
            let ok = got == expected
            line(name, ok: ok, "value=\(list(got))" + (ok ? "" : " expected=\(list(expected))"))
        } catch {
            line(name, ok: false, "error=\(error)")
        }
    }

    private func list<T>(_ values: [T]) -> String { values.map { "\($0)" }.joined(separator: ",") }
}

/// Element-wise average exactly as the communicator computes it: the sum, divided once.
func averaged<T: CollectiveElement>(_ sum: [T], size: Int) -> [T] {
    var result = sum
    result.withUnsafeMutableBufferPointer { T.divide($0, by: size) }
    return result
}

func runChecks(_ comm: any Communicator, _ report: Report, prefix: String, n: Int) {
    let r = comm.rank, s = comm.size
    let triangle = s * (s + 1) / 2  // sum over ranks of (rank + 1)

    report.check(prefix + "broadcast") { () -> (got: [Float], expected: [Float]) in
        let root = s - 1
        var x = (0..<n).map { Float(r * 100 + $0) }
        try comm.broadcast(&x, root: root)
        return (x, (0..<n).map { Float(root * 100 + $0) })
    }
    report.check(prefix + "allreduce_sum") { () -> (got: [Float], expected: [Float]) in
        var x = (0..<n).map { Float(r + 1) * Float($0 + 1) }
        try comm.allreduce(&x, op: .sum)
        return (x, (0..<n).map { Float(triangle * ($0 + 1)) })
    }
    report.check(prefix + "allreduce_average") { () -> (got: [Float], expected: [Float]) in
        var x = (0..<n).map { Float(r + 1) * Float($0 + 1) }
        try comm.allreduce(&x, op: .average)
        return (x, averaged((0..<n).map { Float(triangle * ($0 + 1)) }, size: s))
    }
    report.check(prefix + "allreduce_max") { () -> (got: [Float], expected: [Float]) in
        var x = (0..<n).map { Float(r) - Float($0) }
        try comm.allreduce(&x, op: .max)
        return (x, (0..<n).map { Float(s - 1) - Float($0) })
    }
    report.check(prefix + "allreduce_min") { () -> (got: [Float], expected: [Float]) in
        var x = (0..<n).map { Float(r) - Float($0) }
        try comm.allreduce(&x, op: .min)
        return (x, (0..<n).map { -Float($0) })
    }
    report.check(prefix + "reduce_scatter_sum") { () -> (got: [Float], expected: [Float]) in
        // Block b, element j on rank r holds r + 10b + j; rank r receives block r summed over ranks.
        let input = (0..<(s * n)).map { Float(r + 10 * ($0 / n) + $0 % n) }
        let got = try comm.reduceScatter(input, op: .sum)
        return (got, (0..<n).map { Float(s * (s - 1) / 2 + s * (10 * r + $0)) })
    }
    report.check(prefix + "reduce_scatter_average") { () -> (got: [Double], expected: [Double]) in
        let input = (0..<(s * n)).map { Double(r + 10 * ($0 / n) + $0 % n) }
        let got = try comm.reduceScatter(input, op: .average)
        return (got, averaged((0..<n).map { Double(s * (s - 1) / 2 + s * (10 * r + $0)) }, size: s))
    }
    report.check(prefix + "allgather") { () -> (got: [Float], expected: [Float]) in
        let got = try comm.allgather((0..<n).map { Float(r * 100 + $0) })
        return (got, (0..<(s * n)).map { Float(($0 / n) * 100 + $0 % n) })
    }
    report.check(prefix + "iallreduce_sum") { () -> (got: [Float], expected: [Float]) in
        var x = (0..<n).map { Float(r + 1) * Float($0 + 1) }
        try x.withUnsafeMutableBufferPointer { buffer in
            let request = try comm.startAllreduce(buffer, op: .sum)
            var polls = 0
            while try !request.test() && polls < 1000 { polls += 1 }
            try request.wait()
            try request.wait()  // a second wait returns at once
        }
        return (x, (0..<n).map { Float(triangle * ($0 + 1)) })
    }
    report.check(prefix + "iallreduce_average") { () -> (got: [Double], expected: [Double]) in
        var x = (0..<n).map { Double(r + 1) * Double($0 + 1) }
        try x.withUnsafeMutableBufferPointer { buffer in
            let request = try comm.startAllreduce(buffer, op: .average)
            try request.wait()
            guard try request.test() else { throw CollectiveUsageError(operation: "test", problem: "false after wait") }
        }
        return (x, averaged((0..<n).map { Double(triangle * ($0 + 1)) }, size: s))
    }
}

func runTypedChecks(_ comm: any Communicator, _ report: Report) {
    let r = comm.rank, s = comm.size
    report.check("allreduce_sum_double") { () -> (got: [Double], expected: [Double]) in
        var x = [Double(r) + 0.5, Double(r * r)]
        try comm.allreduce(&x, op: .sum)
        return (x, [Double(s * (s - 1)) / 2 + 0.5 * Double(s), Double((s - 1) * s * (2 * s - 1) / 6)])
    }
    report.check("allreduce_average_double") { () -> (got: [Double], expected: [Double]) in
        var x = [Double(r + 1), Double(2 * r)]
        try comm.allreduce(&x, op: .average)
        return (x, averaged([Double(s * (s + 1) / 2), Double(s * (s - 1))], size: s))
    }
    report.check("allreduce_max_double") { () -> (got: [Double], expected: [Double]) in
        var x = [Double(r), -Double(r)]
        try comm.allreduce(&x, op: .max)
        return (x, [Double(s - 1), 0])
    }
    report.check("allreduce_min_double") { () -> (got: [Double], expected: [Double]) in
        var x = [Double(r), -Double(r)]
        try comm.allreduce(&x, op: .min)
        return (x, [0, -Double(s - 1)])
    }
    report.check("allreduce_sum_int32") { () -> (got: [Int32], expected: [Int32]) in
        var x = [Int32(r + 1), Int32(-r)]
        try comm.allreduce(&x, op: .sum)
        return (x, [Int32(s * (s + 1) / 2), -Int32(s * (s - 1) / 2)])
    }
    report.check("allreduce_max_int32") { () -> (got: [Int32], expected: [Int32]) in
        var x = [Int32(r + 1), Int32(-r)]
        try comm.allreduce(&x, op: .max)
        return (x, [Int32(s), 0])
    }
    report.check("allreduce_sum_int64") { () -> (got: [Int64], expected: [Int64]) in
        var x = [Int64(r) << 33, 1]
        try comm.allreduce(&x, op: .sum)
        return (x, [Int64(s * (s - 1) / 2) << 33, Int64(s)])
    }
    report.check("allreduce_max_int64") { () -> (got: [Int64], expected: [Int64]) in
        var x = [Int64(r) << 33]
        try comm.allreduce(&x, op: .max)
        return (x, [Int64(s - 1) << 33])
    }
    report.check("allreduce_sum_uint64") { () -> (got: [UInt64], expected: [UInt64]) in
        var x = [UInt64(r) << 40 + 7]
        try comm.allreduce(&x, op: .sum)
        return (x, [UInt64(s * (s - 1) / 2) << 40 + 7 * UInt64(s)])
    }
    report.check("allreduce_max_uint64") { () -> (got: [UInt64], expected: [UInt64]) in
        var x = [UInt64(r) << 40]
        try comm.allreduce(&x, op: .max)
        return (x, [UInt64(s - 1) << 40])
    }
    report.check("allreduce_scalar") { () -> (got: [Double], expected: [Double]) in
        ([try comm.allreduce(Double(r), op: .sum)], [Double(s * (s - 1) / 2)])
    }
}

/// A reduce-scatter with the wrong input count must throw the usage error on every rank.
func runUsageCheck(_ comm: any Communicator, _ report: Report) {
    do {
        let input = [Float](repeating: 1, count: comm.size * 2 + 1)
        var output = [Float](repeating: 0, count: 2)
        try input.withUnsafeBufferPointer { inBuffer in
            try output.withUnsafeMutableBufferPointer { try comm.reduceScatter(inBuffer, into: $0, op: .sum) }
        }
        report.line("usage_error", ok: false, "error=none")
    } catch let error as CollectiveUsageError {
        report.line("usage_error", ok: true, "type=CollectiveUsageError error=\(error)")
    } catch {
        report.line("usage_error", ok: false, "type=\(type(of: error)) error=\(error)")
    }
}

/// Broadcast from root = size, which MPI rejects with its "invalid root" error; the point is to
/// see it arrive as a thrown Swift error rather than an abort.
func triggerError(_ comm: any Communicator, _ report: Report) {
    var x: [Float] = [1, 2, 3]
    do {
        try comm.broadcast(&x, root: comm.size)
        report.line("mpi_error", ok: false, "error=none")
    } catch {
        let expectedType = comm.usesMPI ? error is MPIError : error is CollectiveUsageError
        report.line("mpi_error", ok: expectedType, "type=\(type(of: error)) error=\(error)")
    }
}

func main() -> Int32 {
    let arguments = Array(CommandLine.arguments.dropFirst())
    let known: Set = ["--trigger-error"]
    if let unknown = arguments.first(where: { !known.contains($0) }) {
        FileHandle.standardError.write("parallel-check: unknown argument \(unknown) (known: --trigger-error)\n".data(using: .utf8)!)
        return 2
    }
    let comm: any Communicator
    do {
        comm = try World.communicator()
    } catch {
        FileHandle.standardError.write("parallel-check: \(error)\n".data(using: .utf8)!)
        return 1
    }
    let report = Report(comm)
    let launch = LaunchEnvironment.detect()
    report.line("world", ok: comm.usesMPI == launch.isLaunchedInParallel && (launch.size ?? comm.size) == comm.size,
                "value=\(comm.rank),\(comm.size),\(comm.localRank),\(comm.localSize) mpi=\(comm.usesMPI ? 1 : 0) launcher=\(launch.launcher.rawValue)")

    if arguments.contains("--trigger-error") {
        triggerError(comm, report)
    } else {
        do {
            try comm.barrier()
            report.line("barrier", ok: true, "value=done")
        } catch {
            report.line("barrier", ok: false, "error=\(error)")
        }
        runChecks(comm, report, prefix: "", n: 8)
        runTypedChecks(comm, report)
        runUsageCheck(comm, report)
        // The same collectives on buffers split into several MPI calls of at most 4 elements.
        if let mpi = comm as? MPICommunicator {
            mpi.maxElementsPerCall = 4
            runChecks(comm, report, prefix: "chunked_", n: 11)
            mpi.maxElementsPerCall = Int(Int32.max)
        }
    }
    try? comm.barrier()
    World.finalize()
    return report.failures == 0 ? 0 : 1
}

exit(main())
