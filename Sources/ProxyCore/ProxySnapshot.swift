// The configuration a worker serves, as one immutable value swapped whole on every accepted xDS update.

import NIOCore
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
    /// Listener names by address, bound or not: where a `use_original_dst` listener hands a
    /// connection for its original destination.
    private let listenerNamesByAddress: [SocketAddressConfig: String]

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
        var byAddress: [SocketAddressConfig: String] = [:]
        for (name, listener) in listeners.sorted(by: { $0.key < $1.key }) where byAddress[listener.address] == nil {
            byAddress[listener.address] = name
        }
        listenerNamesByAddress = byAddress
    }

    /// The listener for a redirected connection's original destination: the one with exactly
    /// that address, else the wildcard one on its port (Istio's `0.0.0.0_9080`, which does not
    /// bind under capture); nil when none, and the virtual listener keeps the connection.
    public func listener(handling destination: SocketAddress) -> ListenerConfig? {
        guard let ip = destination.ipAddress, let port = destination.port else { return nil }
        let wildcard: String
        if case .v6 = destination { wildcard = "::" } else { wildcard = "0.0.0.0" }
        let name = listenerNamesByAddress[SocketAddressConfig(host: ip, port: port)]
            ?? listenerNamesByAddress[SocketAddressConfig(host: wildcard, port: port)]
        return name.flatMap { listeners[$0] }
    }

    public static let empty = ProxySnapshot(version: 0, listeners: [:], routeTables: [:], clusters: [:])
}
