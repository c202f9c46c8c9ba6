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
// `--output-directory DIR` writes each rank's lines to DIR/rank-R.txt instead of stdout: mpirun
// forwards a rank's stdout in reads of up to 4 KiB, so once a rank has more than that pending a
// line can be cut in two with another rank's output in between; tests that parse every line of
// every rank read the files.
//
// Exits 1 if any check on this rank failed. Run it alone (one rank, no MPI) or under mpirun/srun.
import Foundation
import Parallel

/// Prints one result line per check and counts the failures.
final class Report {
    let comm: any Communicator
    /// Where the lines go: stdout, or this rank's file.
    let output: UnsafeMutablePointer<FILE>
    private(set) var failures = 0

    init(_ comm: any Communicator, output: UnsafeMutablePointer<FILE>) {
        self.comm = comm
        self.output = output
    }

    func line(_ check: String, ok: Bool, _ fields: String) {
        if !ok { failures += 1 }
        fputs("rank=\(comm.rank) size=\(comm.size) check=\(check) ok=\(ok ? 1 : 0) \(fields)\n", output)
        fflush(output)
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

/// Reduce-scatter and in-place allgather with per-rank block sizes `counts` (the same on every
/// rank, unequal on purpose). A rank with an empty block passes a nil base address, as an empty
/// slice of a shard may.
func runBlockChecks(_ comm: any Communicator, _ report: Report, prefix: String, counts: [Int]) {
    let r = comm.rank, s = comm.size
    let starts = counts.indices.map { counts[..<$0].reduce(0, +) }
    let total = counts.reduce(0, +)

    /// Runs `body` on `array`, or on a nil-based empty buffer when `array` is empty.
    func withBuffer<T, R>(_ array: inout [T], _ body: (UnsafeMutableBufferPointer<T>) throws -> R) rethrows -> R {
        if array.isEmpty { return try body(UnsafeMutableBufferPointer(start: nil, count: 0)) }
        return try array.withUnsafeMutableBufferPointer { try body($0) }
    }

    report.check(prefix + "reduce_scatter_v_sum") { () -> (got: [Float], expected: [Float]) in
        // Element g of the whole input on rank r holds 1000r + g; rank r receives its block summed over ranks.
        let input = (0..<total).map { Float(1000 * r + $0) }
        var output = [Float](repeating: -1, count: counts[r])
        try input.withUnsafeBufferPointer { inBuffer in
            try withBuffer(&output) { try comm.reduceScatter(inBuffer, into: $0, counts: counts, op: .sum) }
        }
        return (output, (0..<counts[r]).map { Float(1000 * s * (s - 1) / 2 + s * (starts[r] + $0)) })
    }
    report.check(prefix + "reduce_scatter_v_average") { () -> (got: [Double], expected: [Double]) in
        let input = (0..<total).map { Double(1000 * r + $0) }
        var output = [Double](repeating: -1, count: counts[r])
        try input.withUnsafeBufferPointer { inBuffer in
            try withBuffer(&output) { try comm.reduceScatter(inBuffer, into: $0, counts: counts, op: .average) }
        }
        return (output, averaged((0..<counts[r]).map { Double(1000 * s * (s - 1) / 2 + s * (starts[r] + $0)) }, size: s))
    }
    report.check(prefix + "allgather_v_in_place") { () -> (got: [Float], expected: [Float]) in
        // Only the own block holds data (100r + j); the rest is filler that must be overwritten.
        var buffer = [Float](repeating: -1, count: total)
        for j in 0..<counts[r] { buffer[starts[r] + j] = Float(100 * r + j) }
        try withBuffer(&buffer) { try comm.allgather(inPlace: $0, counts: counts) }
        return (buffer, (0..<s).flatMap { q in (0..<counts[q]).map { Float(100 * q + $0) } })
    }
}

/// The ring collectives (`startReduceScatter`, `startAllgather`, `startAllreduce`) over blocks
/// `counts`, Float32 and bfloat16 on the wire, all three in flight at once and waited for in
/// reverse order. Values are small integers, exact in bfloat16 and in every partial sum.
func runRingChecks(_ comm: any Communicator, _ report: Report, prefix: String, counts: [Int]) {
    let r = comm.rank, s = comm.size
    let starts = counts.indices.map { counts[..<$0].reduce(0, +) }
    let total = counts.reduce(0, +)
    // Element g on rank q holds (q + 1) * (g % 5 + 1): the sum over ranks is s(s+1)/2 * (g % 5 + 1).
    func own(_ q: Int, _ g: Int) -> Float { Float((q + 1) * (g % 5 + 1)) }
    func sum(_ g: Int) -> Float { Float(s * (s + 1) / 2 * (g % 5 + 1)) }
    for wire in WireFormat.allCases {
        let name = prefix + "ring_" + (wire == .float32 ? "" : "bf16_")
        var scattered = (0..<total).map { own(r, $0) }
        var gathered = [Float](repeating: -1, count: total)
        for j in 0..<counts[r] { gathered[starts[r] + j] = Float(100 * r + j) }
        var reduced = (0..<(total + 3)).map { own(r, $0) }
        let reducedCounts = counts.enumerated().map { $0.offset == 0 ? $0.element + 3 : $0.element }
        var failure: Error?
        do {
            try scattered.withUnsafeMutableBufferPointer { a in
                try gathered.withUnsafeMutableBufferPointer { b in
                    try reduced.withUnsafeMutableBufferPointer { c in
                        let first = try comm.startReduceScatter(inPlace: a, counts: counts, wire: wire)
                        let second = try comm.startAllgather(inPlace: b, counts: counts)
                        let third = try comm.startAllreduce(inPlace: c, counts: reducedCounts, wire: wire)
                        try third.wait()
                        try second.wait()
                        while try !first.test() {}
                    }
                }
            }
        } catch {
            failure = error
        }
        if let failure {
            report.line(name + "reduce_scatter", ok: false, "error=\(failure)")
            continue
        }
        report.check(name + "reduce_scatter") { () -> (got: [Float], expected: [Float]) in
            (Array(scattered[starts[r]..<(starts[r] + counts[r])]), (starts[r]..<(starts[r] + counts[r])).map(sum))
        }
        report.check(name + "allgather") { () -> (got: [Float], expected: [Float]) in
            (gathered, (0..<s).flatMap { q in (0..<counts[q]).map { Float(100 * q + $0) } })
        }
        report.check(name + "allreduce") { () -> (got: [Float], expected: [Float]) in
            (reduced, (0..<(total + 3)).map(sum))
        }
    }
}

/// Each rank sends rank 0 its values; rank 0 checks what it received from each.
func runPointToPointChecks(_ comm: any Communicator, _ report: Report) {
    let r = comm.rank, s = comm.size
    report.check("send_receive") { () -> (got: [Double], expected: [Double]) in
        guard s > 1 else { return ([], []) }
        if r == 0 {
            var got: [Double] = []
            for q in 1..<s {
                var values = [Double](repeating: -1, count: 3)
                try values.withUnsafeMutableBufferPointer { try comm.receive($0, from: q) }
                got += values
            }
            return (got, (1..<s).flatMap { q in [Double(q), Double(q) + 0.5, -Double(q)] })
        }
        let values = [Double(r), Double(r) + 0.5, -Double(r)]
        try values.withUnsafeBufferPointer { try comm.send($0, to: 0) }
        return ([], [])
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

/// The side channel answers while a collective is in progress, and a rank that does not answer
/// is nil: ranks 1..<s-1 answer from a thread while their main thread sits in a barrier, the last
/// rank is silent, and rank 0 asks with a bounded wait (round A); then every other rank answers
/// and rank 0 asks again (round B: the last rank's late answer to round A is passed over).
/// Rank 0 reports which ranks answered in each round (1 = answered with the expected bytes) and
/// whether every host name is its own host's.
func runPeerChannelCheck(_ comm: any Communicator, _ report: Report) {
    let r = comm.rank, s = comm.size
    guard s > 1, comm.usesMPI else { return }
    let channel: PeerChannel
    do {
        guard let made = try comm.makePeerChannel() else {
            report.line("peer_channel", ok: false, "error=no peer channel (MPI_THREAD_MULTIPLE not provided)")
            return
        }
        channel = made
    } catch {
        report.line("peer_channel", ok: false, "error=\(error)")
        return
    }
    /// Answers from a thread until the barrier that follows returns.
    final class Answering: @unchecked Sendable {
        let lock = NSLock()
        var done = false
        let finished = DispatchSemaphore(value: 0)
        func start(_ channel: PeerChannel, _ text: String) {
            let thread = Thread { [self] in
                while true {
                    lock.lock()
                    let stop = done
                    lock.unlock()
                    if stop { break }
                    channel.answerQueries { Array(text.utf8) }
                    usleep(1000)
                }
                finished.signal()
            }
            thread.start()
        }
        func stop() {
            lock.lock()
            done = true
            lock.unlock()
            finished.wait()
        }
    }
    var flags: [Double] = []
    var ok = true
    for round in ["A", "B"] {
        let answering = Answering()
        let silent = round == "A" && r == s - 1
        if r != 0 && !silent { answering.start(channel, "rank \(r) round \(round)") }
        if r == 0 {
            let answers = channel.askPeers(timeout: round == "A" ? 1 : 10) { Array("rank 0".utf8) }
            for q in 0..<s {
                let expected = q == 0 || (round == "A" && q == s - 1) ? nil : Array("rank \(q) round \(round)".utf8)
                if answers[q] != expected { ok = false }
                flags.append(answers[q] == nil ? 0 : 1)
            }
        }
        do { try comm.barrier() } catch { ok = false }
        if r != 0 && !silent { answering.stop() }
    }
    let host = ProcessInfo.processInfo.hostName
    let sameHost = channel.hosts.count == s && channel.hosts.allSatisfy { $0 == channel.hosts[0] }
        && (host.hasPrefix(channel.hosts[0]) || channel.hosts[0].hasPrefix(host))
    channel.close()
    if r == 0 {
        report.line("peer_channel", ok: ok && sameHost, "value=\(flags.map { "\(Int($0))" }.joined(separator: ",")) hosts=\(channel.hosts.joined(separator: ","))")
    } else {
        report.line("peer_channel", ok: true, "value=done")
    }
}

/// Collectives with wrong counts must throw the usage error on every rank (before any MPI call,
/// so no rank is left waiting).
func runUsageChecks(_ comm: any Communicator, _ report: Report) {
    let s = comm.size
    expectUsageError("usage_error", report) {
        let input = [Float](repeating: 1, count: s * 2 + 1)
        var output = [Float](repeating: 0, count: 2)
        try input.withUnsafeBufferPointer { inBuffer in
            try output.withUnsafeMutableBufferPointer { try comm.reduceScatter(inBuffer, into: $0, op: .sum) }
        }
    }
    expectUsageError("usage_error_reduce_scatter_v", report) {
        // One count too many.
        let input = [Float](repeating: 1, count: s + 1)
        var output: [Float] = [0]
        try input.withUnsafeBufferPointer { inBuffer in
            try output.withUnsafeMutableBufferPointer {
                try comm.reduceScatter(inBuffer, into: $0, counts: [Int](repeating: 1, count: s + 1), op: .sum)
            }
        }
    }
    expectUsageError("usage_error_allgather_v", report) {
        // One count per rank, but rank 0's is negative.
        var buffer = [Float](repeating: 1, count: s)
        try buffer.withUnsafeMutableBufferPointer {
            try comm.allgather(inPlace: $0, counts: [-1] + [Int](repeating: 1, count: s - 1))
        }
    }
}

/// Reports `name` as passed when `body` throws `CollectiveUsageError`.
func expectUsageError(_ name: String, _ report: Report, _ body: () throws -> Void) {
    do {
        try body()
        report.line(name, ok: false, "error=none")
    } catch let error as CollectiveUsageError {
        report.line(name, ok: true, "type=CollectiveUsageError error=\(error)")
    } catch {
        report.line(name, ok: false, "type=\(type(of: error)) error=\(error)")
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
    var arguments = CommandLine.arguments.dropFirst()
    var triggersError = false
    var outputDirectory: String?
    while let argument = arguments.popFirst() {
        switch argument {
        case "--trigger-error":
            triggersError = true
        case "--output-directory" where !arguments.isEmpty:
            outputDirectory = arguments.popFirst()
        default:
            FileHandle.standardError.write("parallel-check: unknown or incomplete argument \(argument) (known: --trigger-error, --output-directory DIR)\n".data(using: .utf8)!)
            return 2
        }
    }
    let comm: any Communicator
    do {
        comm = try World.communicator()
    } catch {
        FileHandle.standardError.write("parallel-check: \(error)\n".data(using: .utf8)!)
        return 1
    }
    var output: UnsafeMutablePointer<FILE> = stdout
    if let directory = outputDirectory {
        let path = URL(fileURLWithPath: directory).appendingPathComponent("rank-\(comm.rank).txt").path
        guard let file = fopen(path, "w") else {
            FileHandle.standardError.write("parallel-check: \(path): cannot create (errno \(errno))\n".data(using: .utf8)!)
            comm.abort(code: 1)  // the other ranks would wait for this one in their next collective
        }
        output = file
    }
    defer { if output != stdout { fclose(output) } }
    let report = Report(comm, output: output)
    let launch = LaunchEnvironment.detect()
    report.line("world", ok: comm.usesMPI == launch.isLaunchedInParallel && (launch.size ?? comm.size) == comm.size,
                "value=\(comm.rank),\(comm.size),\(comm.localRank),\(comm.localSize) mpi=\(comm.usesMPI ? 1 : 0) launcher=\(launch.launcher.rawValue)")

    if triggersError {
        triggerError(comm, report)
    } else {
        do {
            try comm.barrier()
            report.line("barrier", ok: true, "value=done")
        } catch {
            report.line("barrier", ok: false, "error=\(error)")
        }
        runChecks(comm, report, prefix: "", n: 8)
        // Unequal blocks (2, 3, 4, ... elements), then with rank 0's block empty.
        runBlockChecks(comm, report, prefix: "", counts: (0..<comm.size).map { $0 + 2 })
        runBlockChecks(comm, report, prefix: "empty_block_", counts: (0..<comm.size).map { $0 == 0 ? 0 : $0 + 2 })
        runTypedChecks(comm, report)
        runUsageChecks(comm, report)
        runRingChecks(comm, report, prefix: "", counts: (0..<comm.size).map { 60 * $0 + 37 })
        runPointToPointChecks(comm, report)
        runPeerChannelCheck(comm, report)
        // The same collectives on buffers split into several MPI calls of at most 4 elements.
        if let mpi = comm as? MPICommunicator {
            mpi.maxElementsPerCall = 4
            runChecks(comm, report, prefix: "chunked_", n: 11)
            // Blocks of 5, 9, 13, ... elements: every block is longer than one call.
            runBlockChecks(comm, report, prefix: "chunked_", counts: (0..<comm.size).map { 4 * $0 + 5 })
            mpi.maxElementsPerCall = Int(Int32.max)
            // Ring blocks in segments of 5 values (several messages per block, one block empty).
            mpi.ringSegmentElements = 5
            runRingChecks(comm, report, prefix: "segmented_", counts: (0..<comm.size).map { $0 == 1 ? 0 : 7 * $0 + 23 })
        }
    }
    try? comm.barrier()
    World.finalize()
    return report.failures == 0 ? 0 : 1
}

exit(main())
