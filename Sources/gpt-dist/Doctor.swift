import ArgumentParser
import CBLAS
import CHDF5
import Foundation
import Parallel

/// `gpt-dist doctor`: what a user needs to report a problem (toolchain, libraries, launcher,
/// ranks, threads), and under `mpirun`/`srun` a check that allreduce gives the right answer on
/// every rank plus its bandwidth. Rank 0 prints; the exit status is non-zero on every rank if any
/// check failed on any rank. Run alone, it is one rank and MPI is not started.
struct Doctor: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "doctor",
        abstract: "Print the toolchain, libraries, launcher and ranks; check allreduce on every rank.")

    @Option(parsing: .unconditional, help: "Timed allreduces of the 16 MiB buffer for the bandwidth figure.")
    var repetitions: Int = 10

    @Option(help: .hidden)  // Lets the tests see one rank's failure fail every rank.
    var simulateFailureOnRank: Int?

    func validate() throws {
        guard repetitions >= 1 else { throw ValidationError("--repetitions must be at least 1, got \(repetitions)") }
    }

    func run() throws {
        let launch = LaunchEnvironment.detect()
        let comm = try World.communicator()
        defer { World.finalize() }

        var failures: [String] = []
        if simulateFailureOnRank == comm.rank { failures.append("simulated failure (--simulate-failure-on-rank)") }
        let selfCheck = allreduceSelfCheck(comm, failures: &failures)
        let bandwidth = measureBandwidth(comm, failures: &failures)
        let cores = ProcessInfo.processInfo.activeProcessorCount
        let allowed = allowedCoreCount()
        let threads = threadsPerRank(localSize: comm.localSize, cores: cores, allowedCores: allowed)
        let ranks = gatherRankRows(comm, threads: threads, ok: failures.isEmpty, failures: &failures)

        // Every rank learns whether any rank failed, so all of them exit with the same status.
        let anyFailed = (try? comm.allreduce(Int32(failures.isEmpty ? 0 : 1), op: .max)) ?? 1

        if comm.rank == 0 {
            var report = DoctorReport()
            report.add("gpt-dist doctor", "")
            report.add("swift compiler", "\(swiftCompilerVersion) (language mode \(swiftLanguageMode))")
            report.add("platform", platformDescription)
            report.add("host", ProcessInfo.processInfo.hostName)
            report.add("cpu count", "\(cores) active of \(ProcessInfo.processInfo.processorCount), "
                + (allowed.map { "\($0) allowed for rank 0 (affinity)" } ?? "affinity unknown"))
            report.add("openblas", openBLASConfig)
            report.add("openblas core", openBLASCore)
            report.add("openblas threads", "\(openblas_get_num_threads()) (OpenBLAS's current setting)")
            report.add("hdf5", hdf5Version)
            report.add("mpi library", MPIRuntime.libraryVersion().replacingOccurrences(of: "\n", with: " "))
            report.add("mpi standard", MPIRuntime.standardVersion())
            report.add("launcher", launcherDescription(launch))
            for variable in launch.variables { report.add("  " + variable.name, variable.value) }
            report.add("mpi initialized", MPIRuntime.isInitialized
                ? "yes (MPI_Init_thread, \(MPIRuntime.providedThreadLevel ?? "?") provided)"
                : "no (not started: no mpirun/srun detected, running as one rank)")
            report.add("rank", "\(comm.rank)")
            report.add("size", "\(comm.size)")
            report.add("local rank", "\(comm.localRank)")
            report.add("local size", "\(comm.localSize) (ranks on this node)")
            report.add("threads per rank", "\(threads) (cores \(cores) / local ranks \(comm.localSize), "
                + "at most the \(allowed.map(String.init) ?? "?") allowed, at least 1)")
            report.add("allreduce check", selfCheck)
            report.add("allreduce 16 MiB", bandwidth)
            for row in ranks { report.add("rank \(row.rank)", row.description) }
            report.add("result", anyFailed == 0 ? "ok" : "FAILED")
            for failure in failures { report.add("failure", failure) }
            print(report.text, terminator: "")
            fflush(stdout)
        } else {
            for failure in failures { ErrorLine.write(failure, rank: comm.rank) }
        }
        if anyFailed != 0 {
            if comm.rank == 0 { ErrorLine.write("a check failed (result: FAILED; the report's failure lines and the failing rank's error line say which)") }
            throw ExitCode.failure
        }
    }

    /// Sum of ranks over all ranks, checked on every rank against size*(size-1)/2.
    private func allreduceSelfCheck(_ comm: any Communicator, failures: inout [String]) -> String {
        let expected = Int64(comm.size * (comm.size - 1) / 2)
        do {
            let sum = try comm.allreduce(Int64(comm.rank), op: .sum)
            // How many ranks saw the right sum: every rank must.
            let agreeing = try comm.allreduce(Int64(sum == expected ? 1 : 0), op: .sum)
            if sum != expected { failures.append("allreduce sum of ranks gave \(sum), expected \(expected)") }
            let verdict = agreeing == Int64(comm.size) ? "ok" : "FAILED"
            return "\(verdict) (sum of ranks = \(expected) expected, right on \(agreeing) of \(comm.size) ranks)"
        } catch {
            failures.append("allreduce self-check: \(error)")
            return "FAILED (\(error))"
        }
    }

    /// Times allreduce (sum) of a 16 MiB Float buffer; reports the slowest rank's time per call and
    /// bus bandwidth as nccl-tests defines it: bytes / time x 2(n-1)/n. Also checks the result.
    private func measureBandwidth(_ comm: any Communicator, failures: inout [String]) -> String {
        let count = 16 * 1024 * 1024 / MemoryLayout<Float>.stride
        let n = comm.size
        var buffer = [Float](repeating: Float(comm.rank + 1), count: count)
        do {
            // Correctness on the full buffer first: every element is the sum of rank+1 over ranks.
            try comm.allreduce(&buffer, op: .sum)
            let expected = Float(n * (n + 1) / 2)
            if let bad = buffer.firstIndex(where: { $0 != expected }) {
                failures.append("16 MiB allreduce: element \(bad) is \(buffer[bad]), expected \(expected)")
            }
            guard n > 1 else { return "not measured (one rank: nothing to move)" }
            try comm.allreduce(&buffer, op: .average)  // warm-up; average keeps values bounded
            try comm.barrier()
            let start = DispatchTime.now().uptimeNanoseconds
            for _ in 0..<repetitions { try comm.allreduce(&buffer, op: .average) }
            let mine = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 / Double(repetitions)
            let seconds = try comm.allreduce(mine, op: .max)
            let algorithmBandwidth = Double(count * MemoryLayout<Float>.stride) / seconds / 1e9
            let busBandwidth = algorithmBandwidth * 2 * Double(n - 1) / Double(n)
            return String(format: "%.2f ms per allreduce, bus bandwidth %.2f GB/s (algorithm %.2f GB/s, %d repetitions, slowest rank)",
                          seconds * 1e3, busBandwidth, algorithmBandwidth, repetitions)
        } catch {
            failures.append("16 MiB allreduce: \(error)")
            return "FAILED (\(error))"
        }
    }

    /// Every rank's host, local rank and verdict, gathered to all ranks (rank 0 prints them).
    private func gatherRankRows(_ comm: any Communicator, threads: Int, ok: Bool,
                                failures: inout [String]) -> [RankRow] {
        let mine = RankRow(rank: comm.rank, localRank: comm.localRank, localSize: comm.localSize,
                           threads: threads, ok: ok, host: ProcessInfo.processInfo.hostName)
        do {
            let all = try comm.allgather(mine.encoded)
            return stride(from: 0, to: all.count, by: RankRow.width).map {
                RankRow(decoding: Array(all[$0 ..< $0 + RankRow.width]))
            }
        } catch {
            failures.append("allgather of rank rows: \(error)")
            return [mine]
        }
    }
}

/// One rank's line in the report, packed into Int64s so it can travel by allgather.
private struct RankRow: CustomStringConvertible {
    static let hostWords = 8
    static let width = 5 + hostWords

    var rank, localRank, localSize, threads: Int
    var ok: Bool
    var host: String

    init(rank: Int, localRank: Int, localSize: Int, threads: Int, ok: Bool, host: String) {
        (self.rank, self.localRank, self.localSize, self.threads, self.ok, self.host) =
            (rank, localRank, localSize, threads, ok, host)
    }

    var encoded: [Int64] {
        var bytes = Array(host.utf8.prefix(RankRow.hostWords * 8))
        bytes += [UInt8](repeating: 0, count: RankRow.hostWords * 8 - bytes.count)
        let words = (0..<RankRow.hostWords).map { w in
            (0..<8).reduce(Int64(0)) { $0 | Int64(bytes[w * 8 + $1]) << (8 * $1) }
        }
        return [Int64(rank), Int64(localRank), Int64(localSize), Int64(threads), ok ? 1 : 0] + words
    }

    init(decoding values: [Int64]) {
        let bytes = values[5...].flatMap { word in (0..<8).map { UInt8(truncatingIfNeeded: word >> (8 * $0)) } }
        self.init(rank: Int(values[0]), localRank: Int(values[1]), localSize: Int(values[2]),
                  threads: Int(values[3]), ok: values[4] != 0,
                  host: String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self))
    }

    var description: String {
        "host \(host), local rank \(localRank) of \(localSize), threads \(threads), checks \(ok ? "ok" : "FAILED")"
    }
}

/// `key: value` lines with the values in one column.
private struct DoctorReport {
    private var rows: [(String, String)] = []
    mutating func add(_ key: String, _ value: String) { rows.append((key, value)) }

    var text: String {
        let width = (rows.map { $0.0.count }.max() ?? 0) + 1
        return rows.map { key, value in
            value.isEmpty ? key + "\n" : (key + ":").padding(toLength: width + 1, withPad: " ", startingAt: 0) + value + "\n"
        }.joined()
    }
}

private func launcherDescription(_ launch: LaunchEnvironment) -> String {
    switch launch.launcher {
    case .none: return "none (no OMPI_COMM_WORLD_SIZE, PMIX_RANK, PMI_RANK/PMI_SIZE or SLURM_STEP_ID+SLURM_PROCID)"
    case .mpirun: return "mpirun"
    case .srun: return "srun"
    }
}

private var swiftCompilerVersion: String {
    #if compiler(>=6.4)
    return "6.4 or later"
    #elseif compiler(>=6.3)
    return "6.3"
    #elseif compiler(>=6.2)
    return "6.2"
    #elseif compiler(>=6.1)
    return "6.1"
    #elseif compiler(>=6.0)
    return "6.0"
    #else
    return "5.x"
    #endif
}

private var swiftLanguageMode: String {
    #if swift(>=6.0)
    return "6"
    #else
    return "5"
    #endif
}

private var platformDescription: String {
    var name = utsname()
    uname(&name)
    func field<T>(_ value: T) -> String {
        withUnsafeBytes(of: value) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    }
    return "\(field(name.sysname)) \(field(name.release)) \(field(name.machine))"
}

private var openBLASConfig: String {
    guard let config = openblas_get_config() else { return "unknown" }
    return String(cString: config).trimmingCharacters(in: .whitespaces)
}

private var openBLASCore: String {
    guard let core = openblas_get_corename() else { return "unknown" }
    return String(cString: core)
}

private var hdf5Version: String {
    var major: UInt32 = 0, minor: UInt32 = 0, release: UInt32 = 0
    guard H5get_libversion(&major, &minor, &release) >= 0 else { return "unknown" }
    return "\(major).\(minor).\(release)"
}
