// The configuration a worker serves, as one immutable value swapped whole on every accepted xDS update.

import ProxyConfig
import ProxyUpstream

/// Listeners, route tables and clusters at one version. A request takes what it needs from the
/// snapshot current when it starts and keeps it to the end, so an update never changes a
/// request in flight; the next request sees the new one.
public final class ProxySnapshot: Sendable {
    public let version: Int
    public let listeners: [String: ListenerConfig]
    public let routeTables: [String: RouteTable]
    public let clusters: [String: UpstreamCluster]
    /// The SDS secrets its TLS contexts name (Istio's `default` and `ROOTCA`).
    public let secretNames: Set<String>

    public init(version: Int, listeners: [String: ListenerConfig], routeTables: [String: RouteTable],
                clusters: [String: UpstreamCluster]) {
        self.version = version
        self.listeners = listeners
        self.routeTables = routeTables
        self.clusters = clusters
        var names = Set<String>()
        for listener in listeners.values {
            for chain in listener.filterChains + [listener.defaultFilterChain].compactMap({ $0 }) {
                names.formUnion(chain.tls?.secretNames ?? [])
            }
        }
        for cluster in clusters.values {
            names.formUnion(cluster.config.tls?.secretNames ?? [])
            for match in cluster.config.tlsByEndpoint { names.formUnion(match.tls?.secretNames ?? []) }
        }
        secretNames = names
    }

    public static let empty = ProxySnapshot(version: 0, listeners: [:], routeTables: [:], clusters: [:])
}
