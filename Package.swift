// swift-tools-version: 6.1
import Foundation
import PackageDescription

let package = Package(
    name: "AetherFS",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "AFSCore", targets: ["AFSCore"]),
        .library(name: "AFSServer", targets: ["AFSServer"]),
        .library(name: "AFSClient", targets: ["AFSClient"]),
        .executable(name: "aether", targets: ["aether"]),
        .executable(name: "aether-fsmonitor", targets: ["aether-fsmonitor"]),
        .executable(name: "afs-server", targets: ["afs-server"]),
        .executable(name: "afs-vmd", targets: ["afs-vmd"]),
    ],
    dependencies: [
        .package(url: "https://github.com/groue/GRDB.swift.git", exact: "7.10.0"),
        .package(url: "https://github.com/LebJe/TOMLKit", exact: "0.6.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", exact: "1.8.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", exact: "2.28.1", traits: []),
        .package(url: "https://github.com/apple/swift-nio.git", exact: "2.101.3"),
        .package(url: "https://github.com/apple/swift-log.git", exact: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", exact: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", exact: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", exact: "2.13.0"),
        .package(url: "https://github.com/swift-server/async-http-client.git", exact: "1.37.0"),
        .package(url: "https://github.com/grpc/grpc-swift-2.git", exact: "2.4.3"),
        .package(url: "https://github.com/grpc/grpc-swift-nio-transport.git", exact: "2.9.2"),
        .package(url: "https://github.com/grpc/grpc-swift-protobuf.git", exact: "2.4.1"),
        .package(url: "https://github.com/apple/swift-protobuf.git", exact: "1.39.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", exact: "4.5.2"),
        .package(url: "https://github.com/vapor/postgres-nio.git", exact: "1.33.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", exact: "2.37.6"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", exact: "1.35.2"),
        .package(url: "https://github.com/apple/swift-certificates.git", exact: "1.21.1"),
        .package(url: "https://github.com/apple/swift-asn1.git", exact: "1.7.4"),
    ],
    targets: [
        // System-library shims: a module map and a header, nothing else.
        .systemLibrary(name: "CLZ4", pkgConfig: "liblz4", providers: [.apt(["liblz4-dev"])]),
        .systemLibrary(name: "CXXHash", pkgConfig: "libxxhash", providers: [.apt(["libxxhash-dev"])]),
        .systemLibrary(name: "CCrypto", pkgConfig: "libcrypto", providers: [.apt(["libssl-dev"])]),
        .systemLibrary(name: "CFUSE3", pkgConfig: "fuse3", providers: [.apt(["libfuse3-dev"])]),
        .target(name: "CSystemExtras"),
        // A pass-through SQLite VFS that reports writes and syncs to the power-loss simulator (tests).
        .target(name: "CPowerLossVFS", linkerSettings: [.linkedLibrary("sqlite3")]),
        // Small primitives shared by every module, defined once: HOST:PORT, random ids, a raised-once flag.
        .target(name: "AFSSupport", dependencies: ["CSystemExtras"]),
        // The streaming tar reader and writer (ustar, pax, GNU), with no knowledge of sessions.
        .target(name: "AFSTar"),

        // The engine: chunk log, trees, sessions, catalog, maintenance. No HTTP, FUSE or QEMU.
        .target(
            name: "AFSCore",
            dependencies: [
                "AFSTar",
                "AFSSupport",
                "CLZ4", "CXXHash", "CCrypto", "CSystemExtras", "CPowerLossVFS",
                .product(name: "GRDB", package: "GRDB.swift"),
            ]
        ),
        // S3 object storage for the clustered backend: AWS Signature V4 (swift-crypto) and a
        // small S3 client on AsyncHTTPClient. Kept out of AFSCore, which stays dependency-light.
        .target(
            name: "AFSObjectStore",
            dependencies: [
                "AFSSupport",
                "AFSCore",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
        // The catalog of the clustered backend: sessions, commits, refs, coordination state and
        // session journals in PostgreSQL (postgres-nio), with versioned migrations.
        .target(
            name: "AFSPostgres",
            dependencies: [
                "AFSSupport",
                "AFSCore",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // TLS for the services and their clients: a certificate pair reloaded on SIGHUP, the
        // client's trust roots, and a probe that reads a server's certificate and says why it is
        // refused. The libraries are the ones gRPC's transport already links (NIOSSL, X509).
        .target(
            name: "AFSTLS",
            dependencies: [
                "AFSSupport",
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOCertificateReloading", package: "swift-nio-extras"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "NIOTLS", package: "swift-nio"),
            ]
        ),
        // The HTTP API's bodies, defined once: Codable types used by afs-server's routes, by
        // RemoteStore, and (through schemas derived from their Decodable conformances) by the
        // OpenAPI document.
        .target(name: "AFSWire", dependencies: ["AFSCore"]),
        // The one configuration reader (TOML through TOMLKit) of afs-server and aether.
        .target(name: "AFSConfig", dependencies: [.product(name: "TOMLKit", package: "TOMLKit")]),
        // One API, two transports: the embedded store and an afs-server over HTTP.
        .target(
            name: "AFSClient",
            dependencies: [
                "AFSSupport",
                "AFSCore",
                "AFSTar",
                "AFSWire",
                "AFSConfig",
                "AFSWorkspaceModel",
                "AFSTLS",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ]
        ),
        // The mount's control requests, its socket names and git's fsmonitor query: what a client
        // of a running mount needs, without the mount, the engine or NIO.
        .target(name: "AFSMountControl", dependencies: ["AFSSupport", "CXXHash"]),
        // A session as a FUSE file system: the bridge to libfuse and the local content cache.
        // Its Prometheus endpoint is a small NIO HTTP/1.1 server.
        .target(
            name: "AFSMount",
            dependencies: [
                "AFSSupport", "AFSMountControl",
                "AFSCore", "AFSClient", "CFUSE3",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),
        // The command set of `aether`, as a library so tests can drive it in process.
        .target(
            name: "AetherCLI",
            dependencies: [
                "AFSSupport",
                "AFSCore",
                "AFSWire",
                "AFSWorkspaceModel",
                "AFSClient",
                "AFSMount",
                "AFSTLS",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .executableTarget(name: "aether", dependencies: ["AetherCLI"]),
        // The decoders of hostile bytes as fuzz targets: run by libFuzzer (afs-fuzz, scripts/fuzz.sh)
        // and, over their seeds, by the tests.
        .target(name: "AFSFuzz", dependencies: ["AFSCore", "AFSTar", "AFSConfig", "AFSMountControl", "AFSWire", "AFSObjectStore"]),
        // git's fsmonitor hook (`aether fsmonitor enable` points core.fsmonitor at it): git runs it
        // before every `git status`, so it links only AFSMountControl, and the Swift runtime
        // statically, to start in ~2 ms where `aether` takes ~12 ms.
        .executableTarget(
            name: "aether-fsmonitor", dependencies: ["AFSMountControl", "AFSSupport"],
            // With the runtime linked statically, FoundationEssentials' own C shims must be named:
            // modules built for dynamic linking do not list them.
            linkerSettings: [.unsafeFlags(["-static-stdlib"]), .linkedLibrary("_FoundationCShims"), .linkedLibrary("_FoundationCollections")]),
        // Code generated from Protos/ by scripts/gen-protos.sh (messages, service stubs, clients)
        // plus the embedded descriptor set that the reflection service answers from. Public, so
        // Swift clients and the tests can use the generated clients.
        .target(
            name: "AFSGRPC",
            dependencies: [
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCProtobuf", package: "grpc-swift-protobuf"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ]
        ),
        // The hosted service: HTTP routes and gRPC services, auth, OpenAPI, metrics. A library so tests link it.
        .target(
            name: "AFSServer",
            dependencies: [
                "AFSWorkspaceModel",
                "AFSSupport",
                "AFSCore",
                "AFSWire",
                "AFSClient",
                "AFSGRPC",
                "AFSTLS",
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ],
            // The web console's pages, styles and script (Sources/AFSServer/Console/Assets).
            resources: [.copy("Console/Assets")]
        ),
        .executableTarget(
            name: "afs-server",
            dependencies: ["AFSServer", "AFSClient", "AFSConfig", "AFSSupport", "AFSObjectStore", "AFSPostgres", "AFSTLS", "CSystemExtras", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        // Workspace VMs: the state machine, its SQLite records, and the QEMU and bubblewrap drivers.
        // The workspace records clients and servers exchange with afs-vmd: no drivers, no database.
        .target(name: "AFSWorkspaceModel"),
        .target(name: "AFSWorkspaces", dependencies: ["AFSWorkspaceModel", "AFSSupport", .product(name: "GRDB", package: "GRDB.swift")]),
        // afs-vmd's HTTP API over the controller.
        .target(
            name: "AFSWorkspaceService",
            dependencies: [
                "AFSSupport",
                "AFSWorkspaces",
                "AFSTLS",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .executableTarget(
            name: "afs-vmd",
            dependencies: ["AFSWorkspaceService", "AFSWorkspaces", "AFSTLS", "AFSSupport", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        .executableTarget(
            name: "AetherFSExample",
            dependencies: ["AFSCore"],
            path: "Examples/ForkProposals"
        ),

        .executableTarget(
            name: "afs-bench",
            dependencies: ["AFSCore", "AFSSupport"],
            path: "Benchmarks/ForkBench"
        ),

        .executableTarget(
            name: "afs-transportbench",
            dependencies: [
                "AFSClient", "AFSCore", "AFSGRPC",
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
            ],
            path: "Benchmarks/TransportBench"
        ),

        .executableTarget(
            name: "afs-soak",
            dependencies: ["AFSClient", "AFSCore", "AFSSupport", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "Benchmarks/Soak"
        ),

        .executableTarget(
            name: "afs-objectbench",
            dependencies: ["AFSClient", "AFSCore", "AFSObjectStore", "AFSPostgres"],
            path: "Benchmarks/ObjectStoreBench"
        ),

        .executableTarget(
            name: "afs-vmbench",
            dependencies: ["AFSWorkspaces"],
            path: "Benchmarks/VMBench"
        ),
        // Replicas behind nginx, one killed and restarted under load (Docs/PERFORMANCE.md, "Replicas").
        .executableTarget(
            name: "afs-replicabench", dependencies: ["AFSClient", "AFSCore", "AFSObjectStore", "AFSSupport"], path: "Benchmarks/ReplicaBench"
        ),

        // Shared by the end-to-end suites: a real afs-server child process.
        .target(
            name: "AFSTestSupport",
            dependencies: [
                "AFSSupport",
                "AFSClient", "AFSCore", "AFSObjectStore", "AFSTLS",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            path: "Tests/AFSTestSupport"
        ),

        .testTarget(name: "AFSSupportTests", dependencies: ["AFSSupport"]),
        .testTarget(name: "AFSCoreTests", dependencies: ["AFSCore", "AFSSupport", "AFSTar", "AFSTestSupport", "AFSFuzz"]),
        .testTarget(name: "AFSPostgresTests", dependencies: ["AFSSupport", "AFSPostgres", "AFSObjectStore", "AFSCore", "AFSTestSupport"]),
        .testTarget(name: "AFSObjectStoreTests", dependencies: ["AFSObjectStore", "AFSCore", "AFSTestSupport"]),
        .testTarget(name: "AFSWorkspacesTests", dependencies: ["AFSSupport", "AFSWorkspaces", "AetherCLI", "AFSTestSupport", "AFSTLS", "AFSCore"]),
        .testTarget(name: "AetherCLITests", dependencies: ["AFSSupport", "AetherCLI", "AFSCore", "AFSConfig", "AFSTestSupport", "CSystemExtras"]),
        .testTarget(name: "AFSMountTests", dependencies: ["AFSMount", "AFSClient", "AFSCore", "AFSSupport", "AFSTestSupport", "AFSTLS"]),
        .testTarget(
            name: "AFSServerTests",
            dependencies: [
                "AFSSupport",
                "AFSServer", "AFSCore", "AFSClient", "AFSGRPC", "AFSTestSupport", "AFSObjectStore", "AFSTLS", "AFSWire",
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ]
        ),
    ]
)

// libFuzzer's driver for the fuzz targets, only when scripts/fuzz.sh asks for it (AFS_FUZZ=1): it
// needs libFuzzer (linked in with -sanitize=fuzzer), so no other build has it.
if ProcessInfo.processInfo.environment["AFS_FUZZ"] == "1" {
    package.targets.append(
        .executableTarget(name: "afs-fuzz", dependencies: ["AFSFuzz"], path: "Fuzz/Driver"))
    package.products.append(.executable(name: "afs-fuzz", targets: ["afs-fuzz"]))
}
