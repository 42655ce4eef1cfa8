// REDIRECT mode's capture listeners: virtualOutbound (15001) and virtualInbound (15006).

import EnvoyAPI
import MeshAPI
import MeshModel
import SwiftProtobuf

/// The two listeners iptables capture sends connections to (INTERCEPTION_MODE=REDIRECT).
/// virtualOutbound hands each connection to the listener for its original destination port
/// (`use_original_dst`), else passes it through (ALLOW_ANY) or drops it (REGISTRY_ONLY);
/// virtualInbound picks a filter chain by original destination port, else passes it through.
enum VirtualListenerGenerator {
    static let outboundPort: UInt32 = 15001
    static let inboundPort: UInt32 = 15006

    static func virtualOutbound(policy: OutboundTrafficPolicy.Mode) throws -> Envoy_Config_Listener_V3_Listener {
        var listener = ListenerAddresses.listener(name: "virtualOutbound", bind: "0.0.0.0", port: outboundPort, direction: .outbound)
        listener.useOriginalDst = Google_Protobuf_BoolValue(true)
        var chain = Envoy_Config_Listener_V3_FilterChain()
        chain.name = "virtualOutbound-catchall-tcp"
        chain.filters = [try TCPProxyFactory.filter(cluster: policy == .REGISTRY_ONLY ? ClusterNames.blackHole : ClusterNames.passthrough)]
        listener.filterChains = [chain]
        return listener
    }

    /// Each port's chains follow its mTLS mode, and the passthrough chains the workload's
    /// (Istio's virtualInbound does the same: under STRICT a plaintext connection to a port
    /// nobody declared is refused too). The TLS inspector runs only when a chain asks for TLS.
    static func virtualInbound(_ ports: [SidecarInboundListenerGenerator.InboundPort],
                               mode: (_ port: UInt32?) -> MutualTLSMode) throws -> Envoy_Config_Listener_V3_Listener {
        var listener = ListenerAddresses.listener(name: "virtualInbound", bind: "0.0.0.0", port: inboundPort, direction: .inbound)
        var originalDestination = Envoy_Config_Listener_V3_ListenerFilter()
        originalDestination.name = "envoy.filters.listener.original_dst"
        originalDestination.typedConfig = try Google_Protobuf_Any(message: Envoy_Extensions_Filters_Listener_OriginalDst_V3_OriginalDst())
        listener.listenerFilters = [originalDestination]
        for port in ports {
            let chains = try SidecarInboundListenerGenerator.chains(mode: mode(port.number)) { peerCertificate in
                var chain = try SidecarInboundListenerGenerator.filterChain(port, statPrefix: "inbound_0.0.0.0_\(port.number)",
                                                                            peerCertificate: peerCertificate)
                chain.name = ClusterNames.inbound(port: port.number)
                chain.filterChainMatch.destinationPort = Google_Protobuf_UInt32Value(port.number)
                return chain
            }
            listener.filterChains += chains
        }
        listener.filterChains += try SidecarInboundListenerGenerator.chains(mode: mode(nil)) { _ in
            var passthrough = Envoy_Config_Listener_V3_FilterChain()
            passthrough.name = "virtualInbound-catchall-tcp"
            passthrough.filters = [try TCPProxyFactory.filter(cluster: InboundClusterGenerator.inboundPassthroughName)]
            return passthrough
        }
        if listener.filterChains.contains(where: { !$0.filterChainMatch.transportProtocol.isEmpty }) {
            listener.listenerFilters.append(try ListenerAddresses.tlsInspector())
        }
        return listener
    }
}
