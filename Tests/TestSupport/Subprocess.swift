import Foundation

/// What a finished child process left behind.
public struct ProcessResult {
    public var status: Int32
    public var stdout: String
    public var stderr: String
    /// Both streams, for assertion messages.
    public var output: String { "stdout:\n\(stdout)\nstderr:\n\(stderr)" }
}

/// The folder that holds the products of this build (`gpt-dist`, `parallel-check`, the test bundle).
public var productsDirectory: URL {
    #if os(macOS)
    for bundle in Bundle.allBundles where bundle.bundlePath.hasSuffix(".xctest") {
        return bundle.bundleURL.deletingLastPathComponent()
    }
    fatalError("couldn't find the products directory")
    #else
    return Bundle.main.bundleURL
    #endif
}

/// A built executable of this package, by product name.
public func productURL(_ name: String) -> URL {
    productsDirectory.appendingPathComponent(name)
}

/// Environment for children: Open MPI refuses to run as root without these two.
public func childEnvironment(_ extra: [String: String] = [:]) -> [String: String] {
    var env = ProcessInfo.processInfo.environment
    env["OMPI_ALLOW_RUN_AS_ROOT"] = "1"
    env["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
    for (k, v) in extra { env[k] = v }
    return env
}

/// Runs `executable` with `arguments` to completion and returns its exit status and output.
public func run(_ executable: URL, _ arguments: [String], environment: [String: String] = [:],
                currentDirectory: URL? = nil, stdin: String? = nil) throws -> ProcessResult {
    let process = Process()
    process.executableURL = executable
    process.arguments = arguments
    process.environment = childEnvironment(environment)
    if let currentDirectory { process.currentDirectoryURL = currentDirectory }
    let outPipe = Pipe(), errPipe = Pipe(), inPipe = Pipe()
    process.standardOutput = outPipe
    process.standardError = errPipe
    process.standardInput = inPipe
    // Drain both pipes while the child runs so a chatty child never blocks on a full pipe.
    let out = Sink(), err = Sink()
    let group = DispatchGroup()
    group.enter()
    DispatchQueue.global().async { out.data = outPipe.fileHandleForReading.readDataToEndOfFile(); group.leave() }
    group.enter()
    DispatchQueue.global().async { err.data = errPipe.fileHandleForReading.readDataToEndOfFile(); group.leave() }
    try process.run()
    if let stdin { inPipe.fileHandleForWriting.write(stdin.data(using: .utf8)!) }
    try? inPipe.fileHandleForWriting.close()
    process.waitUntilExit()
    group.wait()
    return ProcessResult(status: process.terminationStatus,
                         stdout: String(decoding: out.data, as: UTF8.self),
                         stderr: String(decoding: err.data, as: UTF8.self))
}

/// Collects one pipe's bytes on a reader thread; read only after the group has been waited on.
private final class Sink: @unchecked Sendable { var data = Data() }

/// Runs a built product of this package.
public func runProduct(_ name: String, _ arguments: [String], environment: [String: String] = [:],
                       currentDirectory: URL? = nil) throws -> ProcessResult {
    try run(productURL(name), arguments, environment: environment, currentDirectory: currentDirectory)
}

/// The `mpirun` on PATH (Open MPI's), or nil.
public var mpirunURL: URL? {
    let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
    for dir in path.split(separator: ":") {
        let url = URL(fileURLWithPath: String(dir)).appendingPathComponent("mpirun")
        if FileManager.default.isExecutableFile(atPath: url.path) { return url }
    }
    return nil
}

/// Runs a built product of this package as `np` ranks under `mpirun`.
/// `--oversubscribe` is always passed so more ranks than cores work on small machines.
public func mpirun(np: Int, _ product: String, _ arguments: [String],
                   environment: [String: String] = [:], currentDirectory: URL? = nil) throws -> ProcessResult {
    guard let mpirun = mpirunURL else {
        throw NSError(domain: "TestSupport", code: 1,
                      userInfo: [NSLocalizedDescriptionKey: "mpirun not found on PATH (install openmpi-bin)"])
    }
    return try run(mpirun, ["-np", String(np), "--oversubscribe", "--bind-to", "none",
                            productURL(product).path] + arguments,
                   environment: environment, currentDirectory: currentDirectory)
}

/// A fresh empty temporary folder, removed by the caller when done.
public func makeTemporaryDirectory(_ prefix: String = "gpt-dist-test") throws -> URL {
    let url = FileManager.default.temporaryDirectory
        .appendingPathComponent("\(prefix)-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}
