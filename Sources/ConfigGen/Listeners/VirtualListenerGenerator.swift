// REDIRECT mode's capture listeners: virtualOutbound (15001) and virtualInbound (15006).

import EnvoyAPI
import MeshAPI
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

    static func virtualInbound(_ ports: [SidecarInboundListenerGenerator.InboundPort]) throws -> Envoy_Config_Listener_V3_Listener {
        var listener = ListenerAddresses.listener(name: "virtualInbound", bind: "0.0.0.0", port: inboundPort, direction: .inbound)
        var originalDestination = Envoy_Config_Listener_V3_ListenerFilter()
        originalDestination.name = "envoy.filters.listener.original_dst"
        originalDestination.typedConfig = try Google_Protobuf_Any(message: Envoy_Extensions_Filters_Listener_OriginalDst_V3_OriginalDst())
        listener.listenerFilters = [originalDestination]
        for port in ports {
            var chain = try SidecarInboundListenerGenerator.filterChain(port, statPrefix: "inbound_0.0.0.0_\(port.number)")
            chain.name = ClusterNames.inbound(port: port.number)
            chain.filterChainMatch.destinationPort = Google_Protobuf_UInt32Value(port.number)
            listener.filterChains.append(chain)
        }
        var passthrough = Envoy_Config_Listener_V3_FilterChain()
        passthrough.name = "virtualInbound-catchall-tcp"
        passthrough.filters = [try TCPProxyFactory.filter(cluster: InboundClusterGenerator.inboundPassthroughName)]
        listener.filterChains.append(passthrough)
        return listener
    }
}
