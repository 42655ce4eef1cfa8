// The hosts of an ORIGINAL_DST cluster: made on demand for the addresses redirected connections were going to.

import NIOCore
import ProxyConfig
import Synchronization

/// An ORIGINAL_DST cluster has no endpoints of its own: each connection's original destination
/// is its host (Istio's PassthroughCluster and InboundPassthroughCluster). A host is made the
/// first time an address is seen and kept, so that keep-alive connections to it are pooled and
/// its load is counted like any other host's. Shared by every worker (one lock per new upstream
/// request, only on passthrough traffic). Envoy drops hosts idle for `cleanup_interval` (5 s);
/// here the set is trimmed of hosts without requests in flight once it passes `limit`, which
/// bounds memory whatever destinations clients try.
public final class OriginalDestinationHosts: Sendable {
    private let hosts = Mutex<[SocketAddress: UpstreamHost]>([:])
    let limit: Int

    public init(limit: Int = 1024) {
        self.limit = limit
    }

    public var count: Int { hosts.withLock { $0.count } }

    func host(for destination: SocketAddress) -> UpstreamHost? {
        guard let ip = destination.ipAddress, let port = destination.port else { return nil }
        return hosts.withLock { hosts in
            if let known = hosts[destination] { return known }
            if hosts.count >= limit {
                hosts = hosts.filter { $0.value.state.outstandingRequests > 0 }
            }
            let host = UpstreamHost(address: SocketAddressConfig(host: ip, port: port), socketAddress: destination, weight: 1,
                                    locality: Locality(), priority: 0, health: .healthy, tlsMode: nil, state: HostState())
            hosts[destination] = host
            return host
        }
    }
}
