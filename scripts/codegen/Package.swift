// swift-tools-version:6.1
// Builds the protoc plugins that generate Sources/EnvoyAPI (used by scripts/generate-envoy-api.sh).
import PackageDescription

let package = Package(
    name: "SwiftMeshCodegen",
    dependencies: [
        .package(url: "https://github.com/apple/swift-protobuf.git", exact: "1.39.0"),
        .package(url: "https://github.com/grpc/grpc-swift-protobuf.git", exact: "2.4.1"),
    ],
    targets: []
)
