// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "AetherFS",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "AFSCore", targets: ["AFSCore"]),
        .executable(name: "aether", targets: ["aether"]),
    ],
    dependencies: [
        .package(url: "https://github.com/groue/GRDB.swift.git", exact: "7.10.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", exact: "1.8.2"),
    ],
    targets: [
        // System-library shims: a module map and a header, nothing else.
        .systemLibrary(name: "CLZ4", pkgConfig: "liblz4", providers: [.apt(["liblz4-dev"])]),
        .systemLibrary(name: "CXXHash", pkgConfig: "libxxhash", providers: [.apt(["libxxhash-dev"])]),
        .systemLibrary(name: "CCrypto", pkgConfig: "libcrypto", providers: [.apt(["libssl-dev"])]),

        // The engine: chunk log, trees, sessions, catalog, maintenance. No HTTP, FUSE or QEMU.
        .target(
            name: "AFSCore",
            dependencies: [
                "CLZ4", "CXXHash", "CCrypto",
                .product(name: "GRDB", package: "GRDB.swift"),
            ]
        ),
        // The command set of `aether`, as a library so tests can drive it in process.
        .target(
            name: "AetherCLI",
            dependencies: [
                "AFSCore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .executableTarget(name: "aether", dependencies: ["AetherCLI"]),
        .executableTarget(
            name: "AetherFSExample",
            dependencies: ["AFSCore"],
            path: "Examples/ForkProposals"
        ),

        .executableTarget(
            name: "afs-bench",
            dependencies: ["AFSCore"],
            path: "Benchmarks/ForkBench"
        ),

        .testTarget(name: "AFSCoreTests", dependencies: ["AFSCore"]),
        .testTarget(name: "AetherCLITests", dependencies: ["AetherCLI", "AFSCore"]),
    ]
)
