// swift-tools-version: 6.1
import PackageDescription

// Builds the two protoc plugins that scripts/gen-protos.sh runs: protoc-gen-swift (messages) and
// protoc-gen-grpc-swift-2 (service stubs and clients). A package of its own so the main build never
// compiles code generators, and the generated code is committed instead of built on every clean build.
let package = Package(
    name: "ProtoGen",
    products: [],
    dependencies: [
        .package(url: "https://github.com/apple/swift-protobuf.git", exact: "1.39.0"),
        .package(url: "https://github.com/grpc/grpc-swift-protobuf.git", exact: "2.4.1"),
    ],
    targets: []
)
