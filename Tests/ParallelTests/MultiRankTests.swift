@testable import Parallel
import TestSupport
import XCTest

/// Runs parallel-check and `gpt-dist doctor` as real MPI jobs and checks every rank's results
/// against values computed here, independently of the checker's own expectations.
final class MultiRankTests: XCTestCase {
    /// Checks every rank must report (the chunked ones exercise buffers split across MPI calls).
    static let checks: [String] = [
        "world", "barrier", "broadcast", "allreduce_sum", "allreduce_average", "allreduce_max", "allreduce_min",
        "reduce_scatter_sum", "reduce_scatter_average", "allgather", "iallreduce_sum", "iallreduce_average",
        "allreduce_sum_double", "allreduce_average_double", "allreduce_max_double", "allreduce_min_double",
        "allreduce_sum_int32", "allreduce_max_int32", "allreduce_sum_int64", "allreduce_max_int64",
        "allreduce_sum_uint64", "allreduce_max_uint64", "allreduce_scalar", "usage_error",
        "chunked_broadcast", "chunked_allreduce_sum", "chunked_allreduce_average", "chunked_allreduce_max",
        "chunked_reduce_scatter_sum", "chunked_allgather", "chunked_iallreduce_sum", "chunked_iallreduce_average",
        "usage_error_reduce_scatter_v", "usage_error_allgather_v", "send_receive", "peer_channel",
    ] + ringChecks + ["", "empty_block_", "chunked_"].flatMap { prefix in
        ["reduce_scatter_v_sum", "reduce_scatter_v_average", "allgather_v_in_place"].map { prefix + $0 }
    }

    /// The ring collectives, Float32 and bfloat16 on the wire, whole and in segments of 5 values.
    static let ringChecks: [String] = {
        var names: [String] = []
        for prefix in ["", "segmented_"] {
            for ring in ["ring_", "ring_bf16_"] {
                for operation in ["reduce_scatter", "allgather", "allreduce"] { names.append(prefix + ring + operation) }
            }
        }
        return names
    }()

    /// The per-rank block sizes parallel-check uses for each prefix of the `_v` checks.
    static func blockCounts(prefix: String, size s: Int) -> [Int] {
        switch prefix {
        case "empty_block_": return (0..<s).map { $0 == 0 ? 0 : $0 + 2 }
        case "chunked_": return (0..<s).map { 4 * $0 + 5 }  // all longer than the 4 elements per call
        default: return (0..<s).map { $0 + 2 }
        }
    }

    func testParallelCheckOnTwoRanks() throws { try runParallelCheck(np: 2) }
    func testParallelCheckOnThreeRanks() throws { try runParallelCheck(np: 3) }

    private func runParallelCheck(np s: Int) throws {
        // Per-rank files: mpirun may cut a rank's stdout mid-line once it has more than 4 KiB pending.
        let directory = try makeTemporaryDirectory("parallel-check")
        defer { try? FileManager.default.removeItem(at: directory) }
        let result = try mpirun(np: s, "parallel-check", ["--output-directory", directory.path])
        XCTAssertEqual(result.status, 0, result.output)
        let text = try (0..<s).map {
            try String(contentsOf: directory.appendingPathComponent("rank-\($0).txt"), encoding: .utf8)
        }.joined()
        let lines = CheckLine.parse(text)
        XCTAssertEqual(Set(lines.keys), Set(0..<s), text + result.output)

        let triangle = Double(s * (s + 1) / 2)
        for r in 0..<s {
            guard let rank = lines[r] else { continue }
            for name in Self.checks {
                guard let line = rank[name] else { XCTFail("rank \(r) did not report \(name)\n\(text)\(result.output)"); continue }
                XCTAssertTrue(line.ok, "rank \(r) \(name) failed: \(line.fields)")
                XCTAssertEqual(line.size, s)
            }
            XCTAssertEqual(rank["world"]?.fields["mpi"], "1")
            XCTAssertEqual(rank["world"]?.values, [Double(r), Double(s), Double(r), Double(s)], "rank, size, local rank, local size")

            for prefix in ["", "chunked_"] {
                let n = prefix.isEmpty ? 8 : 11
                let counting = (0..<n).map(Double.init)
                // Broadcast from the last rank: its r*100 + i everywhere.
                XCTAssertEqual(rank[prefix + "broadcast"]?.values, counting.map { Double((s - 1) * 100) + $0 })
                // (rank+1)*(i+1) summed over ranks, and averaged.
                let sums = counting.map { triangle * ($0 + 1) }
                XCTAssertEqual(rank[prefix + "allreduce_sum"]?.values, sums)
                XCTAssertEqual(rank[prefix + "iallreduce_sum"]?.values, sums)
                let averages = sums.map { Double(Float($0) / Float(s)) }
                XCTAssertEqual(rank[prefix + "allreduce_average"]?.values, averages)
                XCTAssertEqual(rank[prefix + "iallreduce_average"]?.values, sums.map { $0 / Double(s) })
                // rank - i: the largest rank wins.
                XCTAssertEqual(rank[prefix + "allreduce_max"]?.values, counting.map { Double(s - 1) - $0 })
                // Block b, element j holds rank + 10b + j; rank r gets block r summed over ranks.
                XCTAssertEqual(rank[prefix + "reduce_scatter_sum"]?.values,
                               counting.map { Double(s * (s - 1) / 2) + Double(s) * (10 * Double(r) + $0) })
                // Each rank gives r*100 + i; all of them in rank order.
                XCTAssertEqual(rank[prefix + "allgather"]?.values,
                               (0..<s).flatMap { q in counting.map { Double(q * 100) + $0 } })
            }
            for prefix in ["", "empty_block_", "chunked_"] {
                let counts = Self.blockCounts(prefix: prefix, size: s)
                let start = counts[..<r].reduce(0, +)
                // Element g of the whole input holds 1000*rank + g: rank r's block summed over ranks.
                let sums = (start..<(start + counts[r])).map { Double(1000 * s * (s - 1) / 2 + s * $0) }
                XCTAssertEqual(rank[prefix + "reduce_scatter_v_sum"]?.values, sums, prefix)
                XCTAssertEqual(rank[prefix + "reduce_scatter_v_average"]?.values, sums.map { $0 / Double(s) }, prefix)
                // Rank q's block holds 100q + j; afterwards every rank holds all blocks in rank order.
                XCTAssertEqual(rank[prefix + "allgather_v_in_place"]?.values,
                               (0..<s).flatMap { q in (0..<counts[q]).map { Double(100 * q + $0) } }, prefix)
            }
            XCTAssertEqual(rank["usage_error_reduce_scatter_v"]?.fields["error"],
                           "reduceScatter: counts has \(s + 1) entries, expected one per rank (\(s))")
            XCTAssertEqual(rank["usage_error_allgather_v"]?.fields["error"],
                           "allgather: counts[0] is -1, a block cannot be negative")
            XCTAssertEqual(rank["allreduce_min"]?.values, (0..<8).map { -Double($0) })
            XCTAssertEqual(rank["allreduce_sum_double"]?.values, [Double(s * (s - 1)) / 2 + 0.5 * Double(s), Double((s - 1) * s * (2 * s - 1) / 6)])
            XCTAssertEqual(rank["allreduce_max_int32"]?.values, [Double(s), 0])
            XCTAssertEqual(rank["allreduce_sum_int64"]?.values, [Double(s * (s - 1) / 2) * 8589934592, Double(s)])
            XCTAssertEqual(rank["allreduce_scalar"]?.values, [Double(s * (s - 1) / 2)])
            // Round A: every rank but rank 0 itself and the silent last rank answers; round B: all
            // but rank 0 (the asker).
            let answered = r == 0 ? (0..<s).map { $0 == 0 || $0 == s - 1 ? 0.0 : 1 } + (0..<s).map { $0 == 0 ? 0.0 : 1 } : []
            if r == 0 { XCTAssertEqual(rank["peer_channel"]?.values, answered, "\(rank["peer_channel"]?.fields ?? [:])") }
        }
    }

    /// A broadcast from root = size: MPI rejects it, and every rank gets a thrown MPIError with
    /// MPI's own text instead of the job aborting.
    func testMPIErrorSurfacesAsSwiftError() throws {
        let result = try mpirun(np: 2, "parallel-check", ["--trigger-error"])
        XCTAssertEqual(result.status, 0, result.output)
        let lines = CheckLine.parse(result.stdout)
        for r in 0..<2 {
            let line = try XCTUnwrap(lines[r]?["mpi_error"], result.output)
            XCTAssertTrue(line.ok)
            XCTAssertEqual(line.fields["type"], "MPIError")
            let text = try XCTUnwrap(line.fields["error"])
            XCTAssertTrue(text.hasPrefix("MPI_Bcast failed: "), text)
            // Open MPI's MPI_Error_string text for MPI_ERR_ROOT.
            XCTAssertTrue(text.contains("MPI_ERR_ROOT: invalid root"), text)
        }
    }

    func testDoctorOnTwoRanks() throws { try runDoctor(np: 2) }
    func testDoctorOnThreeRanks() throws { try runDoctor(np: 3) }

    private func runDoctor(np: Int) throws {
        let result = try mpirun(np: np, "gpt-dist", ["doctor", "--repetitions", "2"])
        XCTAssertEqual(result.status, 0, result.output)
        let fields = doctorFields(result.stdout)
        XCTAssertEqual(fields["size"], "\(np)", result.output)
        XCTAssertEqual(fields["rank"], "0")
        XCTAssertEqual(fields["launcher"], "mpirun")
        XCTAssertEqual(fields["local size"], "\(np) (ranks on this node)")
        XCTAssertTrue(fields["mpi initialized"]?.hasPrefix("yes") == true, result.output)
        XCTAssertTrue(fields["mpi library"]?.hasPrefix("Open MPI v") == true, result.output)
        let expectedSum = np * (np - 1) / 2
        XCTAssertEqual(fields["allreduce check"], "ok (sum of ranks = \(expectedSum) expected, right on \(np) of \(np) ranks)")
        XCTAssertTrue(fields["allreduce 16 MiB"]?.contains("ms per allreduce, bus bandwidth") == true, result.output)
        let cores = ProcessInfo.processInfo.activeProcessorCount
        for r in 0..<np {
            let row = try XCTUnwrap(fields["rank \(r)"], result.output)
            // mpirun runs with --bind-to none here, so each rank may use every core.
            XCTAssertTrue(row.contains("local rank \(r) of \(np), threads \(max(1, cores / np)), checks ok"), row)
        }
        XCTAssertEqual(fields["result"], "ok")
        // Only rank 0 prints the report.
        XCTAssertEqual(result.stdout.components(separatedBy: "gpt-dist doctor").count, 2, result.output)
    }

    /// A failure on rank 1 alone makes rank 0 report it and exit non-zero too.
    func testDoctorFailureOnOneRankFailsTheJob() throws {
        let result = try mpirun(np: 3, "gpt-dist", ["doctor", "--repetitions", "1", "--simulate-failure-on-rank", "1"])
        XCTAssertNotEqual(result.status, 0, result.output)
        let fields = doctorFields(result.stdout)
        XCTAssertEqual(fields["result"], "FAILED", result.output)
        XCTAssertTrue(fields["rank 0"]?.hasSuffix("checks ok") == true, result.output)
        XCTAssertTrue(fields["rank 1"]?.hasSuffix("checks FAILED") == true, result.output)
        XCTAssertTrue(fields["rank 2"]?.hasSuffix("checks ok") == true, result.output)
        XCTAssertTrue(result.stderr.contains("gpt-dist doctor: error: rank 1: simulated failure"), result.output)
    }

    /// One rank under mpirun bound to one core: MPI runs with size 1, and the rank uses one
    /// thread although the node has more cores.
    func testDoctorBoundToOneCoreUsesOneThread() throws {
        let mpirun = try XCTUnwrap(mpirunURL, "mpirun not found on PATH")
        let result = try TestSupport.run(mpirun, ["-np", "1", "--bind-to", "core", productURL("gpt-dist").path, "doctor"])
        XCTAssertEqual(result.status, 0, result.output)
        let fields = doctorFields(result.stdout)
        XCTAssertEqual(fields["size"], "1", result.output)
        XCTAssertTrue(fields["mpi initialized"]?.hasPrefix("yes") == true, result.output)
        XCTAssertTrue(fields["cpu count"]?.hasSuffix(", 1 allowed for rank 0 (affinity)") == true, result.output)
        XCTAssertTrue(fields["threads per rank"]?.hasPrefix("1 (") == true, result.output)
        XCTAssertEqual(fields["allreduce 16 MiB"], "not measured (one rank: nothing to move)")
        XCTAssertEqual(fields["result"], "ok")
    }

    func testDoctorWithoutMpirunIsOneRankAndDoesNotStartMPI() throws {
        let result = try runProduct("gpt-dist", ["doctor"])
        XCTAssertEqual(result.status, 0, result.output)
        let fields = doctorFields(result.stdout)
        XCTAssertEqual(fields["size"], "1", result.output)
        XCTAssertEqual(fields["rank"], "0")
        XCTAssertTrue(fields["launcher"]?.hasPrefix("none") == true, result.output)
        XCTAssertEqual(fields["mpi initialized"], "no (not started: no mpirun/srun detected, running as one rank)")
        XCTAssertEqual(fields["allreduce check"], "ok (sum of ranks = 0 expected, right on 1 of 1 ranks)")
        XCTAssertEqual(fields["result"], "ok")
        let cores = ProcessInfo.processInfo.activeProcessorCount
        let threads = min(cores, allowedCoreCount() ?? cores)  // the child inherits this process's affinity
        XCTAssertEqual(fields["threads per rank"]?.hasPrefix("\(threads) (cores \(cores) / local ranks 1"), true, result.output)
    }

    func testParallelCheckWithoutMpirunRunsAsOneLocalRank() throws {
        let result = try runProduct("parallel-check", [])
        XCTAssertEqual(result.status, 0, result.output)
        let lines = CheckLine.parse(result.stdout)
        XCTAssertEqual(Set(lines.keys), [0])
        XCTAssertEqual(lines[0]?["world"]?.fields["mpi"], "0")
        XCTAssertEqual(lines[0]?.values.allSatisfy(\.ok), true, result.output)
        XCTAssertEqual(lines[0]?["allgather"]?.values, (0..<8).map(Double.init))
        XCTAssertEqual(lines[0]?["reduce_scatter_v_sum"]?.values, [0, 1])
        XCTAssertEqual(lines[0]?["allgather_v_in_place"]?.values, [0, 1])
        XCTAssertEqual(lines[0]?["empty_block_reduce_scatter_v_sum"]?.values, [])
    }
}
