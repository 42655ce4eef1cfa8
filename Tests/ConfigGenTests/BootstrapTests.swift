// Bootstraps for stock Envoy: golden JSON per case, and every golden file accepted by a real
// Envoy 1.40 (`envoy --mode validate`, installed by scripts/setup.sh).
// SWIFTMESH_UPDATE_GOLDEN=1 rewrites the golden files; read every diff before committing it.

import ConfigGen
import EnvoyAPI
import Foundation
import MeshModel
import Testing

enum BootstrapCases {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("golden/bootstrap")

    static func options(_ name: String) throws -> BootstrapOptions {
        switch name {
        case "sidecar-embedded":
            var options = BootstrapOptions(node: try ProxyNodeID(parsing: "sidecar~127.0.1.4~ratings-v1.default~default.svc.cluster.local"),
                                           xdsHost: "127.0.0.1", xdsPort: 15010)
            options.labels = ["app": "ratings", "version": "v1"]
            options.serviceAccount = "bookinfo-ratings"
            return options
        case "gateway-delta-redirect":
            var options = BootstrapOptions(node: try ProxyNodeID(parsing: "router~127.0.3.1~ingress.istio-system~istio-system.svc.cluster.local"),
                                           xdsHost: "meshd.istio-system.svc.cluster.local", xdsPort: 15010)
            options.interception = .redirect
            options.xdsProtocol = .delta
            options.adminHost = "127.0.0.1"
            options.adminPort = 15100
            return options
        default:
            throw CocoaError(.fileNoSuchFile)
        }
    }

    static let names = ["sidecar-embedded", "gateway-delta-redirect"]

    /// Envoy from scripts/setup.sh, $SWIFTMESH_ENVOY, or the PATH.
    static var envoy: URL? {
        let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        var candidates = [repository.appendingPathComponent(".build-tools/venv/bin/envoy").path]
        if let configured = ProcessInfo.processInfo.environment["SWIFTMESH_ENVOY"] { candidates.insert(configured, at: 0) }
        for directory in (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":") {
            candidates.append("\(directory)/envoy")
        }
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) }.map { URL(fileURLWithPath: $0) }
    }

    /// Runs `envoy --mode validate -c file`; returns its exit status and output.
    static func validate(_ file: URL) throws -> (status: Int32, output: String) {
        guard let envoy else { throw CocoaError(.executableNotLoadable, userInfo: [NSLocalizedDescriptionKey: "no envoy: run scripts/setup.sh"]) }
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("envoy-validate-\(UUID().uuidString).log")
        FileManager.default.createFile(atPath: log.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: log) }
        let handle = try FileHandle(forWritingTo: log)
        let process = Process()
        process.executableURL = envoy
        process.arguments = ["--mode", "validate", "-c", file.path, "--disable-hot-restart", "--log-level", "warn"]
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        process.waitUntilExit()
        try handle.close()
        return (process.terminationStatus, String(decoding: try Data(contentsOf: log), as: UTF8.self))
    }
}

@Suite struct BootstrapTests {
    @Test(arguments: BootstrapCases.names)
    func matchesGoldenFile(name: String) throws {
        let json = try ProtoJSON.pretty(try BootstrapGenerator.bootstrap(try BootstrapCases.options(name)))
        let golden = BootstrapCases.directory.appendingPathComponent("\(name).json")
        if ProcessInfo.processInfo.environment["SWIFTMESH_UPDATE_GOLDEN"] == "1" {
            try FileManager.default.createDirectory(at: BootstrapCases.directory, withIntermediateDirectories: true)
            try json.write(to: golden, atomically: true, encoding: .utf8)
        }
        #expect(json == (try String(contentsOf: golden, encoding: .utf8)), "\(name).json differs from the generated bootstrap")
    }

    @Test(arguments: BootstrapCases.names)
    func stockEnvoyAcceptsIt(name: String) throws {
        let result = try BootstrapCases.validate(BootstrapCases.directory.appendingPathComponent("\(name).json"))
        #expect(result.status == 0, "envoy --mode validate rejected \(name).json:\n\(result.output)")
    }

    @Test func stockEnvoyCheckCanFail() throws {
        // Without the xds-grpc cluster the ADS config points nowhere; Envoy must say so, or the
        // test above proves nothing.
        var bootstrap = try BootstrapGenerator.bootstrap(try BootstrapCases.options("sidecar-embedded"))
        bootstrap.staticResources.clusters = []
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("broken-bootstrap-\(UUID().uuidString).json")
        try ProtoJSON.pretty(bootstrap).write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        let result = try BootstrapCases.validate(file)
        #expect(result.status != 0)
        #expect(result.output.contains("xds-grpc"), "\(result.output)")
    }

    @Test func clusterTypeFollowsTheAddress() throws {
        let byAddress = try BootstrapGenerator.bootstrap(try BootstrapCases.options("sidecar-embedded"))
        #expect(byAddress.staticResources.clusters.first?.type == .static)
        let byName = try BootstrapGenerator.bootstrap(try BootstrapCases.options("gateway-delta-redirect"))
        #expect(byName.staticResources.clusters.first?.type == .strictDns)
        #expect(byName.dynamicResources.adsConfig.apiType == .deltaGrpc)
    }

    @Test func embeddedProxiesConnectUpstreamFromTheirInstanceAddress() throws {
        let embedded = try BootstrapGenerator.bootstrap(try BootstrapCases.options("sidecar-embedded"))
        #expect(embedded.clusterManager.upstreamBindConfig.sourceAddress.address == "127.0.1.4")
        #expect(embedded.clusterManager.upstreamBindConfig.sourceAddress.portValue == 0, "any source port")
        let captured = try BootstrapGenerator.bootstrap(try BootstrapCases.options("gateway-delta-redirect"))
        #expect(!captured.clusterManager.hasUpstreamBindConfig, "with capture, connections leave as the pod's own")
    }
}
