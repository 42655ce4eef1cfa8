// Listeners, routes and clusters per proxy: golden JSON for each case under golden/<case>/, and
// every case accepted by a real Envoy 1.40 as static resources of a bootstrap.
// SWIFTMESH_UPDATE_GOLDEN=1 rewrites the golden files; read every diff before committing it.

import ConfigGen
import EnvoyAPI
import Foundation
import MeshAPI
import MeshModel
import SwiftProtobuf
import Testing

enum ProxyConfigCases {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("golden")
    /// Where input.yaml says the gateway's certificate files are; validation points Envoy at the
    /// copies in golden/gateway instead, so the golden JSON does not depend on the checkout.
    static let certificatePlaceholder = "/etc/swiftmesh/gateway-certs/"

    static let names = ["sidecar-embedded", "sidecar-scoped", "gateway", "redirect-mode", "redirect-mtls", "tcp-tls", "locality", "mtls", "telemetry", "meshproxy-mtls"]

    static func proxy(_ name: String, registry: ServiceRegistry) throws -> MeshProxy {
        switch name {
        case "mtls":
            var proxy = MeshProxy(id: try ProxyNodeID(parsing: "sidecar~127.0.1.1~reviews-v1.default~default.svc.cluster.local"),
                                  metadata: ProxyMetadata(), registry: registry)
            proxy.hasIdentity = true
            return proxy
        case "meshproxy-mtls":
            var metadata = ProxyMetadata()
            metadata.hasIdentity = true
            metadata.dataPlane = .meshproxy
            return MeshProxy(id: try ProxyNodeID(parsing: "sidecar~127.0.1.1~mysql-v1.default~default.svc.cluster.local"),
                             metadata: metadata, registry: registry)
        case "locality":
            return MeshProxy(id: try ProxyNodeID(parsing: "sidecar~127.0.1.1~frontend.default~default.svc.cluster.local"),
                             metadata: ProxyMetadata(), registry: registry)
        case "sidecar-embedded", "tcp-tls", "telemetry":
            return MeshProxy(id: try ProxyNodeID(parsing: "sidecar~127.0.1.1~productpage-v1.default~default.svc.cluster.local"),
                             metadata: ProxyMetadata(), registry: registry)
        case "sidecar-scoped":
            return MeshProxy(id: try ProxyNodeID(parsing: "sidecar~127.0.1.5~ratings-v1.default~default.svc.cluster.local"),
                             metadata: ProxyMetadata(), registry: registry)
        case "gateway":
            return MeshProxy(id: try ProxyNodeID(parsing: "router~127.0.3.1~ingressgateway.istio-system~istio-system.svc.cluster.local"),
                             metadata: ProxyMetadata(labels: ["istio": "ingressgateway"]), registry: registry)
        case "redirect-mode":
            return MeshProxy(id: try ProxyNodeID(parsing: "sidecar~10.0.0.12~reviews-v1.default~default.svc.cluster.local"),
                             metadata: ProxyMetadata(interceptionMode: .redirect), registry: registry)
        case "redirect-mtls":
            var proxy = MeshProxy(id: try ProxyNodeID(parsing: "sidecar~10.0.0.12~reviews-v1.default~default.svc.cluster.local"),
                                  metadata: ProxyMetadata(interceptionMode: .redirect), registry: registry)
            proxy.hasIdentity = true
            return proxy
        default:
            throw CocoaError(.fileNoSuchFile)
        }
    }

    static func snapshot(_ name: String) throws -> MeshSnapshot {
        let input = try Data(contentsOf: directory.appendingPathComponent("\(name)/input.yaml"))
        // A case may bring its mesh config (extension providers, access-log settings).
        var meshConfig = MeshConfig()
        if let mesh = try? Data(contentsOf: directory.appendingPathComponent("\(name)/mesh.yaml")) {
            let loaded = MeshConfigLoader.load(mesh, file: "mesh.yaml")
            guard let config = loaded.config, loaded.diagnostics.allSatisfy({ $0.severity != .error }) else {
                throw TranslationError(resource: "\(name)/mesh.yaml", field: "", reason: "\(loaded.diagnostics)")
            }
            meshConfig = config
        }
        let report = ValidationReport.validate([ConfigInput(file: "input.yaml", data: input)], meshConfig: meshConfig)
        guard report.errorCount == 0, report.diagnostics.isEmpty || name != "telemetry" else {
            throw TranslationError(resource: "\(name)/input.yaml", field: "", reason: "\(report.diagnostics)")
        }
        return MeshSnapshot.empty(meshConfig: meshConfig).next(report)
    }

    static func generate(_ name: String) throws -> (proxy: MeshProxy, resources: ProxyResources) {
        let snapshot = try snapshot(name)
        let proxy = try proxy(name, registry: snapshot.registry)
        return (proxy, try ProxyConfigGenerator(snapshot: snapshot).generate(for: proxy))
    }

    /// A bootstrap Envoy can check without a control plane: the resources as static resources,
    /// each HTTP connection manager's RDS replaced by its route configuration inline, with
    /// cluster names checked (`validate_clusters`), EDS clusters left on ADS. Istio's
    /// `istio.metadata_exchange` (meshproxy nodes only) is istio-proxy's, not stock Envoy's: it
    /// is taken out, and the rest of those resources checked.
    static func validationBootstrap(_ resources: ProxyResources) throws -> Envoy_Config_Bootstrap_V3_Bootstrap {
        EnvoyTypeRegistry.registerAll()
        var resources = resources
        let exchange = "istio.metadata_exchange"
        for index in resources.clusters.indices { resources.clusters[index].filters.removeAll { $0.name == exchange } }
        for listener in resources.listeners.indices {
            for chain in resources.listeners[listener].filterChains.indices {
                resources.listeners[listener].filterChains[chain].filters.removeAll { $0.name == exchange }
            }
        }
        var options = try BootstrapCases.options("sidecar-embedded")
        // mTLS configuration names the agent's SDS cluster.
        options.sdsSocket = "/tmp/swiftmesh-validate-sds.sock"
        var bootstrap = try BootstrapGenerator.bootstrap(options)
        bootstrap.staticResources.clusters += resources.clusters
        let routes = Dictionary(uniqueKeysWithValues: resources.routes.map { ($0.name, $0) })
        for var listener in resources.listeners {
            for chainIndex in listener.filterChains.indices {
                for filterIndex in listener.filterChains[chainIndex].filters.indices {
                    let filter = listener.filterChains[chainIndex].filters[filterIndex]
                    guard filter.typedConfig.isA(Envoy_Extensions_Filters_Network_HttpConnectionManager_V3_HttpConnectionManager.self) else { continue }
                    var manager = try Envoy_Extensions_Filters_Network_HttpConnectionManager_V3_HttpConnectionManager(unpackingAny: filter.typedConfig)
                    if case .rds(let rds)? = manager.routeSpecifier {
                        guard var config = routes[rds.routeConfigName] else {
                            throw TranslationError(resource: "listener \(listener.name)", field: "rds", reason: "no route configuration \(rds.routeConfigName)")
                        }
                        config.validateClusters = Google_Protobuf_BoolValue(true)
                        manager.routeConfig = config
                    } else {
                        manager.routeConfig.validateClusters = Google_Protobuf_BoolValue(true)
                    }
                    listener.filterChains[chainIndex].filters[filterIndex].typedConfig = try Google_Protobuf_Any(message: manager)
                }
            }
            bootstrap.staticResources.listeners.append(listener)
        }
        return bootstrap
    }
}

@Suite struct ProxyConfigGoldenTests {
    func expect(_ text: String, matches file: URL) throws {
        if ProcessInfo.processInfo.environment["SWIFTMESH_UPDATE_GOLDEN"] == "1" {
            try text.write(to: file, atomically: true, encoding: .utf8)
        }
        let golden = (try? String(contentsOf: file, encoding: .utf8)) ?? ""
        #expect(text == golden, "\(file.deletingLastPathComponent().lastPathComponent)/\(file.lastPathComponent) differs from what is generated")
    }

    @Test(arguments: ProxyConfigCases.names)
    func matchesGoldenFiles(name: String) throws {
        let resources = try ProxyConfigCases.generate(name).resources
        let directory = ProxyConfigCases.directory.appendingPathComponent(name)
        try expect(try ProtoJSON.pretty(list: resources.listeners), matches: directory.appendingPathComponent("listeners.json"))
        try expect(try ProtoJSON.pretty(list: resources.routes), matches: directory.appendingPathComponent("routes.json"))
        try expect(try ProtoJSON.pretty(list: resources.clusters), matches: directory.appendingPathComponent("clusters.json"))
        try expect(try ProtoJSON.pretty(list: resources.endpoints), matches: directory.appendingPathComponent("endpoints.json"))
    }

    @Test(arguments: ProxyConfigCases.names)
    func stockEnvoyAcceptsIt(name: String) throws {
        let resources = try ProxyConfigCases.generate(name).resources
        var json = try ProtoJSON.pretty(try ProxyConfigCases.validationBootstrap(resources))
        json = json.replacingOccurrences(of: ProxyConfigCases.certificatePlaceholder,
                                         with: ProxyConfigCases.directory.appendingPathComponent("gateway").path + "/")
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("proxy-\(name)-\(UUID().uuidString).json")
        try json.write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        let result = try BootstrapCases.validate(file)
        #expect(result.status == 0, "envoy --mode validate rejected \(name):\n\(result.output)")
    }

    @Test(arguments: ProxyConfigCases.names)
    func everyReferencedClusterExists(name: String) throws {
        let resources = try ProxyConfigCases.generate(name).resources
        let clusters = Set(resources.clusters.map(\.name))
        for config in resources.routes {
            for host in config.virtualHosts {
                for route in host.routes {
                    guard case .route(let action)? = route.action else { continue }
                    var names = action.weightedClusters.clusters.map(\.name) + action.requestMirrorPolicies.map(\.cluster)
                    if !action.cluster.isEmpty { names.append(action.cluster) }
                    for cluster in names {
                        #expect(clusters.contains(cluster), "\(name): route \(config.name)/\(host.name)/\(route.name) names missing cluster \(cluster)")
                    }
                }
            }
        }
        // Envoy checks tcp_proxy clusters only when a connection arrives, so check them here.
        for listener in resources.listeners {
            for filter in listener.filterChains.flatMap(\.filters)
            where filter.typedConfig.isA(Envoy_Extensions_Filters_Network_TcpProxy_V3_TcpProxy.self) {
                let proxy = try Envoy_Extensions_Filters_Network_TcpProxy_V3_TcpProxy(unpackingAny: filter.typedConfig)
                let names = proxy.cluster.isEmpty ? proxy.weightedClusters.clusters.map(\.name) : [proxy.cluster]
                for cluster in names {
                    #expect(clusters.contains(cluster), "\(name): listener \(listener.name) names missing cluster \(cluster)")
                }
            }
        }
        let assignments = Set(resources.endpoints.map(\.clusterName))
        for cluster in resources.clusters where cluster.type == .eds {
            #expect(assignments.contains(cluster.edsClusterConfig.serviceName), "\(name): no endpoints for \(cluster.name)")
        }
    }
}

/// meshd generates every proxy of a push from one PushContext; what it caches for one proxy must
/// not leak into another's configuration.
@Suite struct PushContextTests {
    static func bytes(_ resources: ProxyResources) throws -> [[UInt8]] {
        let messages: [any SwiftProtobuf.Message] = resources.clusters + resources.endpoints + resources.listeners + resources.routes
        var options = BinaryEncodingOptions()
        options.useDeterministicOrdering = true
        return try messages.map { try $0.serializedBytes(options: options) }
    }

    @Test(arguments: ProxyConfigCases.names)
    func sharedContextGeneratesWhatAFreshOneDoes(name: String) throws {
        let snapshot = try ProxyConfigCases.snapshot(name)
        // The case's proxy, and the others whose node IDs the cases use, against this snapshot:
        // a mix of namespaces, scopes and proxy types.
        let proxies = try ProxyConfigCases.names.map { try ProxyConfigCases.proxy($0, registry: snapshot.registry) }
        let shared = PushContext(snapshot: snapshot)
        for proxy in proxies + proxies.reversed() {
            let fresh = try ProxyConfigGenerator(snapshot: snapshot).generate(for: proxy)
            let cached = try ProxyConfigGenerator(context: shared).generate(for: proxy)
            #expect(try Self.bytes(cached) == Self.bytes(fresh), "\(name): \(proxy.id)")
        }
    }
}
