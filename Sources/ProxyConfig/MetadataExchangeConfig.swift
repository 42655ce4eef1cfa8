// Istio's `istio.metadata_exchange` network filter: who the peer of a TCP connection is, exchanged in-band.

import EnvoyAPI
import SwiftProtobuf

/// The filter's settings, on an inbound chain in front of its TCP proxy or on a cluster as an
/// upstream filter. Both ends write their workload's metadata first and read the other's, once
/// TLS has negotiated `protocol` as the ALPN; otherwise the connection carries bytes untouched.
public struct MetadataExchangeConfig: Sendable, Equatable {
    public static let filterName = "istio.metadata_exchange"
    /// The ALPN both ends must agree on (Istio: `istio-peer-exchange`).
    public var protocolName: String

    init(typedConfig: Google_Protobuf_Any, at path: String) throws {
        let config = try unpack(typedConfig, as: Envoy_Tcp_Metadataexchange_Config_MetadataExchange.self, at: path + ".typed_config")
        guard !config.protocol.isEmpty else { throw ProxyConfigError(path + ".typed_config.protocol", "is empty: the exchange needs an ALPN") }
        if config.enableDiscovery {
            throw ProxyConfigError(path + ".typed_config.enable_discovery", "meshproxy has no workload discovery to look peers up in")
        }
        if !config.additionalLabels.isEmpty {
            throw ProxyConfigError(path + ".typed_config.additional_labels", "meshproxy sends Istio's node fields only")
        }
        protocolName = config.protocol
    }
}
