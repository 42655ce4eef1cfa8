// Istio's TCP metadata exchange on mesh mTLS hops: the `istio.metadata_exchange` filter and its ALPN, for meshproxy nodes.

import EnvoyAPI
import MeshModel
import SwiftProtobuf

/// A TCP connection has no headers to carry who is calling, so istio-proxy exchanges its
/// workload's metadata in-band: over mesh mTLS, once both ends negotiated the ALPN
/// `istio-peer-exchange`, each end first writes a magic-prefixed `Struct` of its node metadata
/// and reads the other's. Both sides' TCP metrics then name the peer's workload.
///
/// Stock Envoy has no such filter (it would refuse the config, and a peer that negotiated the
/// ALPN would pass the exchange bytes to the app), so only meshproxy nodes get it:
/// - inbound mTLS chains that end in a TCP proxy: the filter in front of it, and the ALPN first
///   in the chain's TLS context (as Istio's inbound TCP chains have it);
/// - clusters whose TLS is mesh mTLS: the filter as an upstream network filter. Istio also puts
///   the ALPN in the cluster's TLS context and overrides it on HTTP connections with its
///   `istio.alpn` filter; meshproxy instead offers the ALPN on the TCP proxy's connections of a
///   cluster with this filter only. The bytes on the wire are the same.
///
/// A meshproxy peer of a stock Envoy never negotiates the ALPN (Envoy neither offers nor accepts
/// it), so mixed meshes fall back to naming TCP peers by certificate alone.
enum MetadataExchangeAttachment {
    static let filterName = "istio.metadata_exchange"
    static let alpn = "istio-peer-exchange"

    static func attach(to resources: inout ProxyResources, proxy: MeshProxy) throws {
        guard proxy.dataPlane == .meshproxy else { return }
        let config = try Google_Protobuf_Any(message: Envoy_Tcp_Metadataexchange_Config_MetadataExchange.with { $0.protocol = alpn })
        var upstream = Envoy_Config_Cluster_V3_Filter()
        upstream.name = filterName
        upstream.typedConfig = config
        for index in resources.clusters.indices where isMeshMutualTLS(resources.clusters[index]) {
            resources.clusters[index].filters = [upstream]
        }
        var filter = Envoy_Config_Listener_V3_Filter()
        filter.name = filterName
        filter.typedConfig = config
        for listener in resources.listeners.indices where resources.listeners[listener].trafficDirection == .inbound {
            for chain in resources.listeners[listener].filterChains.indices {
                try attach(filter, to: &resources.listeners[listener].filterChains[chain])
            }
        }
    }

    /// An inbound chain of mesh mTLS (the workload's certificate from its agent) into a TCP proxy.
    private static func attach(_ filter: Envoy_Config_Listener_V3_Filter, to chain: inout Envoy_Config_Listener_V3_FilterChain) throws {
        guard chain.filters.last?.name == TCPProxyFactory.filterName, chain.hasTransportSocket,
              chain.transportSocket.typedConfig.isA(Envoy_Extensions_TransportSockets_Tls_V3_DownstreamTlsContext.self) else { return }
        var context = try Envoy_Extensions_TransportSockets_Tls_V3_DownstreamTlsContext(unpackingAny: chain.transportSocket.typedConfig)
        guard MutualTLS.isWorkloadCertificate(context.commonTlsContext) else { return }
        context.commonTlsContext.alpnProtocols = [alpn] + context.commonTlsContext.alpnProtocols.filter { $0 != alpn }
        chain.transportSocket.typedConfig = try Google_Protobuf_Any(message: context)
        chain.filters.insert(filter, at: chain.filters.count - 1)
    }

    /// A cluster that speaks mesh mTLS to all its endpoints or, by transport socket match, to some.
    private static func isMeshMutualTLS(_ cluster: Envoy_Config_Cluster_V3_Cluster) -> Bool {
        let sockets = (cluster.hasTransportSocket ? [cluster.transportSocket] : []) + cluster.transportSocketMatches.map(\.transportSocket)
        return sockets.contains { socket in
            guard let context = try? Envoy_Extensions_TransportSockets_Tls_V3_UpstreamTlsContext(unpackingAny: socket.typedConfig) else { return false }
            return MutualTLS.isWorkloadCertificate(context.commonTlsContext)
        }
    }
}
