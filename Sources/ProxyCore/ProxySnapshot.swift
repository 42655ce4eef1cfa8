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

    public init(version: Int, listeners: [String: ListenerConfig], routeTables: [String: RouteTable],
                clusters: [String: UpstreamCluster]) {
        self.version = version
        self.listeners = listeners
        self.routeTables = routeTables
        self.clusters = clusters
    }

    public static let empty = ProxySnapshot(version: 0, listeners: [:], routeTables: [:], clusters: [:])
}
