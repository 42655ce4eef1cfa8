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
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
    ],
    targets: [
        // RE2, the regex engine Envoy uses, behind a C ABI: validation asks it whether a
        // pattern compiles exactly as Envoy would compile it (Debian's libre2-dev).
        .target(
            name: "CRE2",
            linkerSettings: [.linkedLibrary("re2")]
        ),
        .target(
            name: "MeshAPI",
            dependencies: ["CRE2", .product(name: "Yams", package: "Yams")]
        ),
        .executableTarget(
            name: "meshctl",
            dependencies: ["MeshAPI", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        .executableTarget(
            name: "ValidateBench",
            dependencies: ["MeshAPI", .product(name: "Yams", package: "Yams")],
            path: "bench/validate"
        ),
        .testTarget(
            name: "MeshAPITests",
            dependencies: ["MeshAPI", .product(name: "Yams", package: "Yams")],
            exclude: ["invalid", "valid"]
        ),
        // Runs the built meshctl binary as a user would; depends on it so it is built first.
        .testTarget(
            name: "MeshctlTests",
            dependencies: ["meshctl"]
        ),
    ]
)
