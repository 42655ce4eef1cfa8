// Istio's TCP metadata exchange: the bytes each end writes first, how they are read back, and the config that turns it on.

import EnvoyAPI
import ProxyConfig
import SwiftProtobuf
import Telemetry
import Testing

@Suite struct PeerMetadataExchangeTests {
    static let workload = WorkloadMetadata(workload: "productpage-v1", namespace: "default",
                                           labels: ["app": "productpage", "version": "v1"], cluster: "Kubernetes")
    static let nodeID = "sidecar~127.11.0.5~productpage-v1.default~default.svc.cluster.local"

    @Test func whatOneEndWritesTheOtherReadsBack() {
        let bytes = PeerMetadataExchange.encode(Self.workload, nodeID: Self.nodeID)
        // Istio's header: the magic and the payload's length, both big-endian.
        #expect(Array(bytes.prefix(4)) == [0x3D, 0x23, 0x04, 0x67])
        let length = bytes[4..<8].reduce(0) { $0 << 8 | Int($1) }
        #expect(length == bytes.count - 8)
        let appBytes = Array("GET / HTTP/1.1\r\n".utf8)
        #expect(PeerMetadataExchange.read(bytes + appBytes) == .peer(Self.workload, id: Self.nodeID, consumed: bytes.count))
    }

    /// The payload is a protobuf Any of a Struct, as istio-proxy writes it: a peer that decodes
    /// it with protobuf alone finds the node metadata and ID under Istio's keys.
    @Test func thePayloadIsAnAnyOfAStructUnderIstiosKeys() throws {
        let bytes = PeerMetadataExchange.encode(Self.workload, nodeID: Self.nodeID)
        let any = try Google_Protobuf_Any(serializedBytes: Array(bytes[8...]))
        #expect(any.typeURL == "type.googleapis.com/google.protobuf.Struct")
        let fields = try Google_Protobuf_Struct(serializedBytes: Array(any.value)).fields
        #expect(fields["x-envoy-peer-metadata-id"]?.stringValue == Self.nodeID)
        let metadata = try #require(fields["x-envoy-peer-metadata"]?.structValue.fields)
        #expect(metadata["WORKLOAD_NAME"]?.stringValue == "productpage-v1" && metadata["NAMESPACE"]?.stringValue == "default")
        #expect(metadata["LABELS"]?.structValue.fields["version"]?.stringValue == "v1")
    }

    @Test func bytesArrivingInPiecesWaitForTheRest() {
        let bytes = PeerMetadataExchange.encode(Self.workload, nodeID: Self.nodeID)
        for cut in 1..<bytes.count {
            #expect(PeerMetadataExchange.read(bytes[..<cut]) == .needMore, "after \(cut) bytes")
        }
    }

    /// A peer that chose the ALPN but writes its own protocol first is told apart at its first
    /// byte that is not the magic's, so a short greeting is not held back.
    @Test func bytesWithoutTheMagicBelongToTheApplication() {
        #expect(PeerMetadataExchange.read(Array("GET / HTTP/1.1\r\n".utf8)) == .absent)
        #expect(PeerMetadataExchange.read([0x3D, 0x24]) == .absent)
        #expect(PeerMetadataExchange.read([0x3D, 0x23]) == .needMore)
        #expect(PeerMetadataExchange.read([UInt8]()) == .needMore)
    }

    @Test func aPayloadThatDoesNotParseIsSkippedAndALengthTooLargeIsRefused() {
        let garbage: [UInt8] = [0x3D, 0x23, 0x04, 0x67, 0, 0, 0, 3, 0xFF, 0xFF, 0xFF, 0x41]
        #expect(PeerMetadataExchange.read(garbage) == .peer(nil, id: nil, consumed: 11))
        let huge: [UInt8] = [0x3D, 0x23, 0x04, 0x67, 0x7F, 0, 0, 0]
        #expect(PeerMetadataExchange.read(huge) == .tooLarge(0x7F00_0000))
    }

    // MARK: - Config

    static func exchangeFilter(_ configure: (inout Envoy_Tcp_Metadataexchange_Config_MetadataExchange) -> Void = { _ in })
        throws -> Google_Protobuf_Any {
        var config = Envoy_Tcp_Metadataexchange_Config_MetadataExchange()
        config.protocol = "istio-peer-exchange"
        configure(&config)
        return try Google_Protobuf_Any(message: config)
    }

    static func cluster(tls: Bool, exchange: Google_Protobuf_Any) throws -> Envoy_Config_Cluster_V3_Cluster {
        var cluster = Envoy_Config_Cluster_V3_Cluster()
        cluster.name = "outbound|3306||mysql.default.svc.cluster.local"
        cluster.type = .static
        cluster.loadAssignment.clusterName = cluster.name
        if tls {
            var context = Envoy_Extensions_TransportSockets_Tls_V3_UpstreamTlsContext()
            context.sni = "outbound_.3306_._.mysql.default.svc.cluster.local"
            cluster.transportSocket.name = "envoy.transport_sockets.tls"
            cluster.transportSocket.typedConfig = try Google_Protobuf_Any(message: context)
        }
        var filter = Envoy_Config_Cluster_V3_Filter()
        filter.name = "istio.metadata_exchange"
        filter.typedConfig = exchange
        cluster.filters = [filter]
        return cluster
    }

    @Test func aClusterFilterTurnsTheExchangeOnForItsTLSConnections() throws {
        let config = try ClusterConfig(proto: try Self.cluster(tls: true, exchange: try Self.exchangeFilter()), limits: ConfigLimits())
        #expect(config.metadataExchange?.protocolName == "istio-peer-exchange")
        let path = "clusters[outbound|3306||mysql.default.svc.cluster.local].filters[0]"
        #expect(throws: ProxyConfigError(path, "the exchange needs TLS to negotiate its ALPN, and the cluster has no transport socket")) {
            _ = try ClusterConfig(proto: try Self.cluster(tls: false, exchange: try Self.exchangeFilter()), limits: ConfigLimits())
        }
        #expect(throws: ProxyConfigError(path + ".typed_config.protocol", "is empty: the exchange needs an ALPN")) {
            _ = try ClusterConfig(proto: try Self.cluster(tls: true, exchange: try Self.exchangeFilter { $0.protocol = "" }), limits: ConfigLimits())
        }
        #expect(throws: ProxyConfigError(path + ".typed_config.enable_discovery", "meshproxy has no workload discovery to look peers up in")) {
            _ = try ClusterConfig(proto: try Self.cluster(tls: true, exchange: try Self.exchangeFilter { $0.enableDiscovery = true }),
                                  limits: ConfigLimits())
        }
    }

    static func listener(terminal: String, tls: Bool) throws -> Envoy_Config_Listener_V3_Listener {
        var exchange = Envoy_Config_Listener_V3_Filter()
        exchange.name = "istio.metadata_exchange"
        exchange.typedConfig = try Self.exchangeFilter()
        var last = Envoy_Config_Listener_V3_Filter()
        last.name = terminal
        if terminal == "envoy.filters.network.tcp_proxy" {
            var proxy = Envoy_Extensions_Filters_Network_TcpProxy_V3_TcpProxy()
            proxy.statPrefix = "inbound|3306||"
            proxy.cluster = "inbound|3306||"
            last.typedConfig = try Google_Protobuf_Any(message: proxy)
        } else {
            var manager = Envoy_Extensions_Filters_Network_HttpConnectionManager_V3_HttpConnectionManager()
            manager.statPrefix = "inbound_9080"
            manager.rds.routeConfigName = "9080"
            last.typedConfig = try Google_Protobuf_Any(message: manager)
        }
        var chain = Envoy_Config_Listener_V3_FilterChain()
        chain.filters = [exchange, last]
        if tls {
            var context = Envoy_Extensions_TransportSockets_Tls_V3_DownstreamTlsContext()
            context.commonTlsContext.alpnProtocols = ["istio-peer-exchange", "h2", "http/1.1"]
            var certificate = Envoy_Extensions_TransportSockets_Tls_V3_SdsSecretConfig()
            certificate.name = "default"
            context.commonTlsContext.tlsCertificateSdsSecretConfigs = [certificate]
            chain.transportSocket.name = "envoy.transport_sockets.tls"
            chain.transportSocket.typedConfig = try Google_Protobuf_Any(message: context)
        }
        return .test("127.0.1.1_3306", address: "127.0.1.1", port: 3306, chains: [chain])
    }

    @Test func aChainTakesTheExchangeInFrontOfATLSTCPProxyOnly() throws {
        let config = try ListenerConfig(proto: try Self.listener(terminal: "envoy.filters.network.tcp_proxy", tls: true), limits: ConfigLimits())
        guard case .tcp(let proxy) = try #require(config.filterChains.first).network else { Issue.record("not a TCP chain"); return }
        #expect(proxy.metadataExchange?.protocolName == "istio-peer-exchange")
        #expect(throws: ProxyConfigError("listeners[127.0.1.1_3306].filter_chains[0].filters[0]",
                                         "the exchange needs TLS to negotiate its ALPN, and the chain has no transport socket")) {
            _ = try ListenerConfig(proto: try Self.listener(terminal: "envoy.filters.network.tcp_proxy", tls: false), limits: ConfigLimits())
        }
        #expect(throws: ProxyConfigError("listeners[127.0.1.1_3306].filter_chains[0].filters[0]",
                                         "istio.metadata_exchange: meshproxy supports one terminal network filter, with istio.metadata_exchange only in front of a tcp_proxy")) {
            _ = try ListenerConfig(proto: try Self.listener(terminal: "envoy.filters.network.http_connection_manager", tls: true), limits: ConfigLimits())
        }
    }
}
