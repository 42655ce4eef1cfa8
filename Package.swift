// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "SwiftMesh",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "meshctl", targets: ["meshctl"]),
        .library(name: "MeshAPI", targets: ["MeshAPI"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
    ],
    targets: [
        // RE2, the regex engine Envoy uses, behind a C ABI: validation asks it whether a
        // pattern compiles exactly as Envoy would compile it (Debian's libre2-dev).
        .target(
            name: "CRE2",
            linkerSettings: [.linkedLibrary("re2")]
        ),
        // libyaml's event parser: the reader builds located nodes from its events without
        // recursion, so depth, aliases and duplicate keys are bounded before anything is built.
        .systemLibrary(
            name: "CLibYAML",
            providers: [.apt(["libyaml-dev"])]
        ),
        .target(
            name: "MeshAPI",
            dependencies: ["CRE2", "CLibYAML"]
        ),
        .executableTarget(
            name: "meshctl",
            dependencies: ["MeshAPI", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        .executableTarget(
            name: "ValidateBench",
            dependencies: ["MeshAPI", "CLibYAML"],
            path: "bench/validate"
        ),
        .testTarget(
            name: "MeshAPITests",
            dependencies: ["MeshAPI"],
            exclude: ["invalid", "valid"]
        ),
        // Runs the built meshctl binary as a user would; depends on it so it is built first.
        .testTarget(
            name: "MeshctlTests",
            dependencies: ["meshctl"]
        ),
    ]
)
