// The Envoy bootstrap that connects a stock Envoy to meshd over ADS, as `meshctl proxy-bootstrap` prints it.

import EnvoyAPI
import MeshModel
import SwiftProtobuf

/// What a proxy's bootstrap needs to know.
public struct BootstrapOptions: Sendable {
    /// How a proxy receives traffic: iptables capture (15001/15006) or explicit binds.
    public enum Interception: String, Sendable, CaseIterable {
        case none = "NONE"
        case redirect = "REDIRECT"
    }

    /// State of the world (`GRPC`) or incremental (`DELTA_GRPC`) xDS.
    public enum XDSProtocol: String, Sendable, CaseIterable {
        case stateOfTheWorld = "GRPC"
        case delta = "DELTA_GRPC"
    }

    public var node: ProxyNodeID
    public var xdsHost: String
    public var xdsPort: UInt32
    /// Defaults to the proxy's instance address, port 15000: nothing binds 0.0.0.0 (DESIGN.md).
    public var adminHost: String?
    public var adminPort: UInt32 = 15000
    public var interception: Interception = .none
    public var xdsProtocol: XDSProtocol = .stateOfTheWorld
    public var labels: [String: String] = [:]
    public var serviceAccount: String?
    /// The identity agent's SDS socket: the bootstrap gets the `sds-grpc` cluster to it and
    /// tells meshd (metadata `WORKLOAD_IDENTITY: SDS`) that this proxy can speak mTLS.
    public var sdsSocket: String?

    public init(node: ProxyNodeID, xdsHost: String, xdsPort: UInt32) {
        self.node = node
        self.xdsHost = xdsHost
        self.xdsPort = xdsPort
    }
}

/// Builds bootstraps. Pure: the same options give the same bootstrap.
public enum BootstrapGenerator {
    /// The static cluster through which the proxy reaches meshd.
    public static let xdsClusterName = "xds-grpc"
    /// Envoy rejects regexes whose RE2 program is larger than this runtime value; Istio sets
    /// 32768 (Envoy's default, 100, rejects `[a-z]{4,200}`), and MeshAPI's validation assumes it.
    public static let regexProgramSizeLimit = 32768.0

    public static func bootstrap(_ options: BootstrapOptions) throws -> Envoy_Config_Bootstrap_V3_Bootstrap {
        var bootstrap = Envoy_Config_Bootstrap_V3_Bootstrap()
        bootstrap.node = node(options)
        bootstrap.dynamicResources = dynamicResources(options)
        bootstrap.staticResources.clusters = [try xdsCluster(options)]
        if let socket = options.sdsSocket { bootstrap.staticResources.clusters.append(try sdsCluster(socket)) }
        bootstrap.admin.address = socketAddress(options.adminHost ?? options.node.ip, options.adminPort)
        bootstrap.layeredRuntime = runtime()
        bootstrap.statsConfig = statsConfig()
        if options.interception == .none {
            // Every upstream connection leaves from the workload's instance address, so peers and
            // policies see who is calling although every workload shares the host (the embedded
            // contract). Set once here rather than on each cluster: clusters then do not depend
            // on the proxy, and meshd serializes each once for every proxy that gets it.
            bootstrap.clusterManager.upstreamBindConfig.sourceAddress = socketAddress(options.node.ip, 0).socketAddress
        }
        return bootstrap
    }

    /// The node's cluster, which names the proxy in its trace spans: Istio's default
    /// (`APP_LABEL_AND_NAMESPACE`) `<app label>.<namespace>`, the workload's name without an app label.
    static func serviceCluster(namespace: String, labels: [String: String], workloadName: String) -> String {
        "\(labels["app"] ?? workloadName).\(namespace)"
    }

    static func node(_ options: BootstrapOptions) -> Envoy_Config_Core_V3_Node {
        var node = Envoy_Config_Core_V3_Node()
        node.id = options.node.description
        node.cluster = serviceCluster(namespace: options.node.namespace, labels: options.labels, workloadName: options.node.name)
        var metadata: [String: Google_Protobuf_Value] = [
            "INTERCEPTION_MODE": Google_Protobuf_Value(stringValue: options.interception.rawValue),
            "NAMESPACE": Google_Protobuf_Value(stringValue: options.node.namespace),
            // Istio's metrics name workloads by these (meshproxy's metadata exchange sends them).
            "WORKLOAD_NAME": Google_Protobuf_Value(stringValue: options.node.name),
            "CLUSTER_ID": Google_Protobuf_Value(stringValue: "Kubernetes"),
        ]
        if !options.labels.isEmpty {
            var labels = Google_Protobuf_Struct()
            for (key, value) in options.labels { labels.fields[key] = Google_Protobuf_Value(stringValue: value) }
            metadata["LABELS"] = Google_Protobuf_Value(structValue: labels)
        }
        if let serviceAccount = options.serviceAccount {
            metadata["SERVICE_ACCOUNT"] = Google_Protobuf_Value(stringValue: serviceAccount)
        }
        if options.sdsSocket != nil {
            metadata["WORKLOAD_IDENTITY"] = Google_Protobuf_Value(stringValue: "SDS")
        }
        node.metadata.fields = metadata
        return node
    }

    static func dynamicResources(_ options: BootstrapOptions) -> Envoy_Config_Bootstrap_V3_Bootstrap.DynamicResources {
        var grpc = Envoy_Config_Core_V3_GrpcService()
        grpc.envoyGrpc.clusterName = xdsClusterName
        var ads = Envoy_Config_Core_V3_ApiConfigSource()
        ads.apiType = options.xdsProtocol == .delta ? .deltaGrpc : .grpc
        ads.transportApiVersion = .v3
        ads.grpcServices = [grpc]
        // The node is sent once per stream; meshd keeps it for the stream's life.
        ads.setNodeOnFirstMessageOnly = true
        var overADS = Envoy_Config_Core_V3_ConfigSource()
        overADS.ads = Envoy_Config_Core_V3_AggregatedConfigSource()
        overADS.resourceApiVersion = .v3
        var resources = Envoy_Config_Bootstrap_V3_Bootstrap.DynamicResources()
        resources.adsConfig = ads
        resources.cdsConfig = overADS
        resources.ldsConfig = overADS
        return resources
    }

    static func xdsCluster(_ options: BootstrapOptions) throws -> Envoy_Config_Cluster_V3_Cluster {
        var cluster = Envoy_Config_Cluster_V3_Cluster()
        cluster.name = xdsClusterName
        // A name is resolved by DNS; an address is used as it is.
        cluster.type = IPAddressSyntax.isIPAddress(options.xdsHost) ? .static : .strictDns
        cluster.connectTimeout = Google_Protobuf_Duration(seconds: 1)
        var endpoint = Envoy_Config_Endpoint_V3_LbEndpoint()
        endpoint.endpoint.address = socketAddress(options.xdsHost, options.xdsPort)
        var localities = Envoy_Config_Endpoint_V3_LocalityLbEndpoints()
        localities.lbEndpoints = [endpoint]
        cluster.loadAssignment.clusterName = xdsClusterName
        cluster.loadAssignment.endpoints = [localities]
        // gRPC needs HTTP/2 to meshd.
        var http2 = Envoy_Extensions_Upstreams_Http_V3_HttpProtocolOptions()
        http2.explicitHTTPConfig.http2ProtocolOptions = Envoy_Config_Core_V3_Http2ProtocolOptions()
        cluster.typedExtensionProtocolOptions["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"] = try Google_Protobuf_Any(message: http2)
        return cluster
    }

    /// Tags for Envoy's stats, as Istio's bootstrap sets them. Envoy's default cluster_name tag
    /// stops at the first dot, so `outbound|9080|v1|reviews.default.svc.cluster.local` would
    /// become `outbound|9080|v1|reviews` and a metric name full of the rest; Istio replaces the
    /// defaults with its own list. Ours: cluster names up to `.svc.cluster.local`, response code
    /// and class, listener address, HTTP connection manager prefixes with an address in them
    /// (`inbound_127.10.1.3_9080`), TCP proxy prefixes.
    static func statsConfig() -> Envoy_Config_Metrics_V3_StatsConfig {
        let tags: [(String, String)] = [
            ("envoy.cluster_name", #"^cluster\.((.+?(\..+?\.svc\.cluster\.local)?)\.)"#),
            ("envoy.response_code", #"_rq(_(\d{3}))$"#),
            ("envoy.response_code_class", #"_rq(_(\dxx))$"#),
            ("envoy.listener_address", #"^listener\.(((?:[_.[:digit:]]*|[_\[\]aAbBcCdDeEfF[:digit:]]*))\.)"#),
            ("envoy.http_conn_manager_prefix", #"^http\.(((?:inbound|outbound)_[0-9.]+_[0-9]+|[^.]+)\.)"#),
            ("envoy.tcp_prefix", #"^tcp\.(((?:inbound|outbound)_[0-9.]+_[0-9]+|[^.]+)\.)"#),
        ]
        var config = Envoy_Config_Metrics_V3_StatsConfig()
        config.useAllDefaultTags = Google_Protobuf_BoolValue(false)
        config.statsTags = tags.map { name, regex in
            var tag = Envoy_Config_Metrics_V3_TagSpecifier()
            tag.tagName = name
            tag.regex = regex
            return tag
        }
        return config
    }

    /// The identity agent's Unix socket, over HTTP/2 (gRPC SDS).
    static func sdsCluster(_ path: String) throws -> Envoy_Config_Cluster_V3_Cluster {
        var cluster = Envoy_Config_Cluster_V3_Cluster()
        cluster.name = "sds-grpc"
        cluster.type = .static
        cluster.connectTimeout = Google_Protobuf_Duration(seconds: 1)
        var endpoint = Envoy_Config_Endpoint_V3_LbEndpoint()
        endpoint.endpoint.address.pipe.path = path
        var localities = Envoy_Config_Endpoint_V3_LocalityLbEndpoints()
        localities.lbEndpoints = [endpoint]
        cluster.loadAssignment.clusterName = "sds-grpc"
        cluster.loadAssignment.endpoints = [localities]
        var http2 = Envoy_Extensions_Upstreams_Http_V3_HttpProtocolOptions()
        http2.explicitHTTPConfig.http2ProtocolOptions = Envoy_Config_Core_V3_Http2ProtocolOptions()
        cluster.typedExtensionProtocolOptions["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"] = try Google_Protobuf_Any(message: http2)
        return cluster
    }

    static func runtime() -> Envoy_Config_Bootstrap_V3_LayeredRuntime {
        var layer = Envoy_Config_Bootstrap_V3_RuntimeLayer()
        layer.name = "swiftmesh"
        layer.staticLayer.fields = [
            "re2.max_program_size.error_level": Google_Protobuf_Value(numberValue: regexProgramSizeLimit),
            // Istio's value: no global connection cap (Envoy warns without an explicit one).
            "overload.global_downstream_max_connections": Google_Protobuf_Value(numberValue: 2_147_483_647),
        ]
        var runtime = Envoy_Config_Bootstrap_V3_LayeredRuntime()
        runtime.layers = [layer]
        return runtime
    }

    static func socketAddress(_ host: String, _ port: UInt32) -> Envoy_Config_Core_V3_Address {
        var address = Envoy_Config_Core_V3_Address()
        address.socketAddress.address = host
        address.socketAddress.portValue = port
        return address
    }
}

/// Whether text is an IPv4 or IPv6 address (without resolving anything).
enum IPAddressSyntax {
    static func isIPAddress(_ text: String) -> Bool {
        if text.contains(":") { return text.allSatisfy { $0.isHexDigit || $0 == ":" || $0 == "." } }
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts.allSatisfy { !$0.isEmpty && $0.count <= 3 && $0.allSatisfy(\.isNumber) && Int($0)! <= 255 }
    }
}
