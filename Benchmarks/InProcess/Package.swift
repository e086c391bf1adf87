// swift-tools-version: 6.1
// In-process benchmarks of AFSCore with ordo-one/benchmark. A package of its own, so the root
// package's build (and CI) never compiles it. Run from this folder:
//   swift package --allow-writing-to-package-directory benchmark
// or ./run.sh, which also writes Docs/perf/inprocess.md.
import PackageDescription

let package = Package(
    name: "AetherInProcessBenchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "AetherFS", path: "../.."),
        // ordo-one/benchmark (formerly package-benchmark). The trait is required: the default RuntimeInterposer
        // trait needs a package that the mirror does not have.
        .package(url: "https://github.com/ordo-one/benchmark.git", exact: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        // Workloads (scratch dirs, seeded trees and bytes) shared by the benchmarks and afs-profile.
        .target(
            name: "BenchSupport",
            dependencies: [.product(name: "AFSCore", package: "AetherFS")],
            path: "Sources/BenchSupport"
        ),
        .executableTarget(
            name: "AetherBenchmarks",
            dependencies: [
                "BenchSupport",
                .product(name: "AFSCore", package: "AetherFS"),
                .product(name: "Benchmark", package: "benchmark"),
            ],
            path: "Benchmarks/AetherBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        // A plain executable for profilers (callgrind, strace, perf): one operation in a loop, no harness.
        .executableTarget(
            name: "afs-profile",
            dependencies: ["BenchSupport", .product(name: "AFSCore", package: "AetherFS")],
            path: "Sources/afs-profile"
        ),
    ]
)
