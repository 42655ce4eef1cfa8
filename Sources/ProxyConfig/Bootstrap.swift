// The bootstrap meshproxy starts from: Envoy's bootstrap format, as `meshctl proxy-bootstrap` prints it.

import EnvoyAPI
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import SwiftProtobuf

/// What meshproxy takes from an Envoy bootstrap: who it is (node), where its control plane is,
/// where its admin listens, the upstream bind address of the embedded contract, and runtime
/// limits. Any static listener or non-xDS static cluster is refused by name: meshproxy gets
/// all of its serving configuration over xDS.
public struct ProxyBootstrap: Sendable {
    public enum XDSProtocol: String, Sendable { case delta = "DELTA_GRPC", stateOfTheWorld = "GRPC" }

    public var node: Envoy_Config_Core_V3_Node
    public var adminAddress: SocketAddressConfig?
    public var xdsAddress: SocketAddressConfig
    public var xdsProtocol: XDSProtocol
    public var upstreamBindAddress: String?
    /// Where the workload's agent serves SDS (the `sds-grpc` cluster): a Unix socket path, or a
    /// socket address. nil without that cluster.
    public var sdsAddress: SDSAddress?
    public enum SDSAddress: Sendable, Equatable {
        case unix(path: String)
        case socket(SocketAddressConfig)
    }
    /// The cluster name Istio's bootstraps give the agent's SDS socket.
    public static let sdsCluster = "sds-grpc"
    public var limits: ConfigLimits

    /// Reads a bootstrap in JSON (or YAML-free JSON), with `overlayJSON` merged on top as
    /// Envoy's `--config-yaml` merges (repeated fields append, messages merge).
    public init(json: String, overlayJSON: String? = nil) throws {
        ProxyTypeRegistry.registerUnderstood()
        let proto: Envoy_Config_Bootstrap_V3_Bootstrap
        do {
            proto = try Self.decode(json: json, overlayJSON: overlayJSON)
        } catch {
            // A type meshproxy does not register may still be a valid bootstrap that `init(proto:)`
            // refuses by name; only then is the whole generated API worth registering.
            EnvoyTypeRegistry.registerAll()
            do {
                proto = try Self.decode(json: json, overlayJSON: overlayJSON)
            } catch {
                throw ProxyConfigError("bootstrap", "not a valid Envoy bootstrap: \(error)")
            }
        }
        try self.init(proto: proto)
    }

    private static func decode(json: String, overlayJSON: String?) throws -> Envoy_Config_Bootstrap_V3_Bootstrap {
        var options = JSONDecodingOptions()
        options.ignoreUnknownFields = false
        var proto = try Envoy_Config_Bootstrap_V3_Bootstrap(jsonString: json, options: options)
        if let overlayJSON {
            let overlay = try Envoy_Config_Bootstrap_V3_Bootstrap(jsonString: overlayJSON, options: options)
            try proto.merge(serializedBytes: try overlay.serializedBytes() as [UInt8])
        }
        return proto
    }

    public init(proto: Envoy_Config_Bootstrap_V3_Bootstrap) throws {
        node = proto.node
        guard !node.id.isEmpty else { throw ProxyConfigError("bootstrap.node.id", "is empty") }
        adminAddress = proto.admin.hasAddress ? try SocketAddressConfig(proto: proto.admin.address, at: "bootstrap.admin.address") : nil
        let ads = proto.dynamicResources.adsConfig
        switch ads.apiType {
        case .deltaGrpc: xdsProtocol = .delta
        case .grpc: xdsProtocol = .stateOfTheWorld
        default: throw ProxyConfigError("bootstrap.dynamic_resources.ads_config.api_type", "must be GRPC or DELTA_GRPC")
        }
        guard let service = ads.grpcServices.first, case .envoyGrpc(let grpc)? = service.targetSpecifier else {
            throw ProxyConfigError("bootstrap.dynamic_resources.ads_config.grpc_services", "needs one envoy_grpc service")
        }
        guard !proto.staticResources.listeners.contains(where: { _ in true }) else {
            throw ProxyConfigError("bootstrap.static_resources.listeners", "meshproxy takes its listeners over xDS only")
        }
        guard let xdsCluster = proto.staticResources.clusters.first(where: { $0.name == grpc.clusterName }) else {
            throw ProxyConfigError("bootstrap.static_resources.clusters", "has no cluster \(grpc.clusterName) for ADS")
        }
        for (index, cluster) in proto.staticResources.clusters.enumerated() where cluster.name != grpc.clusterName && cluster.name != Self.sdsCluster {
            throw ProxyConfigError("bootstrap.static_resources.clusters[\(index)]", "static cluster \(cluster.name) is not supported by meshproxy")
        }
        guard let endpoint = xdsCluster.loadAssignment.endpoints.first?.lbEndpoints.first?.endpoint else {
            throw ProxyConfigError("bootstrap.static_resources.clusters[\(xdsCluster.name)]", "has no endpoint")
        }
        xdsAddress = try SocketAddressConfig(proto: endpoint.address, at: "bootstrap.static_resources.clusters[\(xdsCluster.name)].load_assignment")
        if let index = proto.staticResources.clusters.firstIndex(where: { $0.name == Self.sdsCluster }) {
            let path = "bootstrap.static_resources.clusters[\(index)].load_assignment.endpoints[0].lb_endpoints[0].endpoint.address"
            guard let address = proto.staticResources.clusters[index].loadAssignment.endpoints.first?.lbEndpoints.first?.endpoint.address else {
                throw ProxyConfigError("bootstrap.static_resources.clusters[\(index)]", "the \(Self.sdsCluster) cluster has no endpoint")
            }
            if case .pipe(let pipe)? = address.address {
                guard !pipe.path.isEmpty else { throw ProxyConfigError(path + ".pipe.path", "is empty") }
                sdsAddress = .unix(path: pipe.path)
            } else {
                sdsAddress = .socket(try SocketAddressConfig(proto: address, at: path))
            }
        }
        let bind = proto.clusterManager.upstreamBindConfig
        upstreamBindAddress = proto.clusterManager.hasUpstreamBindConfig && bind.hasSourceAddress ? bind.sourceAddress.address : nil
        limits = ConfigLimits()
        for layer in proto.layeredRuntime.layers {
            if case .staticLayer(let values)? = layer.layerSpecifier,
               let size = Self.runtimeNumber(values, key: ["re2", "max_program_size", "error_level"]) {
                limits.maxRegexProgramSize = Int(size)
            }
        }
    }

    /// A runtime value by key, nested (`re2: {max_program_size: ...}`) or dotted (`re2.max_program_size...`).
    static func runtimeNumber(_ layer: Google_Protobuf_Struct, key: [String]) -> Double? {
        if case .numberValue(let value)? = layer.fields[key.joined(separator: ".")]?.kind { return value }
        var current = layer
        for (index, part) in key.enumerated() {
            guard let value = current.fields[part]?.kind else { return nil }
            if index == key.count - 1 {
                if case .numberValue(let number) = value { return number }
                return nil
            }
            guard case .structValue(let inner) = value else { return nil }
            current = inner
        }
        return nil
    }
}
