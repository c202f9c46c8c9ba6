// swift-tools-version:5.10
import PackageDescription

// Release builds compile the GPT module (its SIMD kernels) for x86-64 CPUs with AVX2 and FMA:
// eight-lane float arithmetic instead of SSE's four (about 4% of a shakespeare-cpu step; the
// sgemms are OpenBLAS's and pick their kernels at run time anyway). `gpt-dist` checks the CPU
// before any of that code runs and names the way out: GPT_DIST_PORTABLE=1 builds for baseline
// x86-64. Debug builds (and so the tests) always use the baseline.
#if arch(x86_64)
let haswell = Context.environment["GPT_DIST_PORTABLE"].map { $0.isEmpty || $0 == "0" } ?? true
#else
let haswell = false
#endif
/// The flag itself, for the GPT module only.
let kernelSettings: [SwiftSetting] = haswell ? [
    .unsafeFlags(["-target-cpu", "haswell"], .when(configuration: .release)),
    .define("GPT_DIST_HASWELL", .when(configuration: .release)),
] : []
/// Swift's `squareRoot()` reaches C's sqrtf through its runtime shims, which on Linux keep C's
/// errno semantics: every lane of a SIMD square root became a scalar sqrt plus a check and a
/// libm call, which made AdamW's update 4.5x slower than one vsqrtps. Results are unchanged.
let mathSettings: [SwiftSetting] = [.unsafeFlags(["-Xcc", "-fno-math-errno"])]
/// The command line compiles for the baseline and checks the CPU before calling into GPT.
let checkSettings: [SwiftSetting] = haswell ? [.define("GPT_DIST_HASWELL", .when(configuration: .release))] : []

let package = Package(
    name: "gpt-dist",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "gpt-dist", targets: ["gpt-dist"]),
        .library(name: "GPT", targets: ["GPT"]),
        .library(name: "Parallel", targets: ["Parallel"]),
        .library(name: "HDF5", targets: ["HDF5"]),
        .library(name: "SafeTensors", targets: ["SafeTensors"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.1"),
        // The HTTP server of `gpt-dist serve` (NIOHTTP1's parser and encoder) and its /metrics.
        .package(url: "https://github.com/apple/swift-nio", from: "2.65.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.0.0"),
    ],
    targets: [
        // C libraries, reached only through these shim modules.
        .systemLibrary(name: "CMPI", path: "Sources/CMPI", pkgConfig: "ompi-c",
                       providers: [.apt(["libopenmpi-dev", "openmpi-bin"])]),
        .systemLibrary(name: "CHDF5", path: "Sources/CHDF5", pkgConfig: "hdf5",
                       providers: [.apt(["libhdf5-dev"])]),
        .systemLibrary(name: "CBLAS", path: "Sources/CBLAS", pkgConfig: "openblas",
                       providers: [.apt(["libopenblas-dev"])]),

        // Moves buffers of numbers between ranks; knows nothing of GPTs.
        .target(name: "Parallel", dependencies: ["CMPI"]),
        // Files, groups, datasets, attributes; knows nothing of checkpoints or shards.
        .target(name: "HDF5", dependencies: ["CHDF5"]),
        // The safetensors file format (header, dtypes, offsets); knows nothing of GPTs.
        .target(name: "SafeTensors"),
        // Model, kernels, optimizer, data, tokenizers, checkpoints, training.
        .target(name: "GPT", dependencies: [
            "CBLAS", "HDF5", "Parallel", "SafeTensors",
            .product(name: "Yams", package: "Yams"),
        ], swiftSettings: kernelSettings + mathSettings),
        // `gpt-dist serve`: the HTTP completion server over GPT's batched decoder; GPT knows nothing of it.
        .target(name: "Serve", dependencies: [
            "GPT",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "Prometheus", package: "swift-prometheus"),
        ]),
        .executableTarget(name: "gpt-dist", dependencies: [
            "GPT", "Serve", "Parallel", "HDF5", "CBLAS",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], swiftSettings: checkSettings),

        // Exercises every collective on every rank; the multi-rank tests run it under mpirun.
        .executableTarget(name: "parallel-check", dependencies: ["Parallel"]),
        // Finds the built executables and runs them (and mpirun) for the end-to-end tests; reads
        // a dataset folder's HDF5 files for comparisons.
        .target(name: "TestSupport", dependencies: ["HDF5"], path: "Tests/TestSupport"),

        .testTarget(name: "ParallelTests", dependencies: ["Parallel", "TestSupport"]),
        .testTarget(name: "HDF5Tests", dependencies: ["HDF5"], resources: [.copy("Fixtures")]),
        .testTarget(name: "SafeTensorsTests", dependencies: ["SafeTensors"], resources: [.copy("Fixtures")]),
        .testTarget(name: "GPTTests", dependencies: ["GPT", "HDF5", "Parallel", "TestSupport"],
                    resources: [.copy("Fixtures")]),
        .testTarget(name: "CLITests", dependencies: ["TestSupport", "GPT"]),
        // `gpt-dist serve` over real HTTP: the built binary on a free port, a tiny checkpoint.
        .testTarget(name: "ServeTests", dependencies: ["Serve", "GPT", "TestSupport"]),
    ]
)
