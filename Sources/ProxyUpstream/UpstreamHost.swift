// One endpoint of a cluster, and the state it keeps across config updates (load, failures, ejection).

import NIOCore
import ProxyConfig
import Synchronization

/// What the proxy has learnt about one endpoint: outstanding requests (for least-request
/// balancing), consecutive failures and ejection (outlier detection). Shared by every worker,
/// touched with atomics only, and kept across EDS updates for as long as the endpoint stays.
public final class HostState: Sendable {
    let activeRequests = Atomic<Int>(0)
    let consecutive5xx = Atomic<Int>(0)
    let consecutiveGatewayFailures = Atomic<Int>(0)
    let consecutiveLocalFailures = Atomic<Int>(0)
    /// Uptime in nanoseconds until which the host is ejected; 0 when it is not.
    let ejectedUntil = Atomic<UInt64>(0)
    let ejections = Atomic<Int>(0)
    /// Active health checking has not passed this host (yet, or any more).
    let failedActiveHealthCheck = Atomic<Bool>(false)
    /// A request has been sent to this host (health checks slow down to `no_traffic_interval`
    /// while no host of the cluster has had one). Written once: later requests only read it.
    let hadTraffic = Atomic<Bool>(false)

    public init() {}

    public var isFailingActiveHealthCheck: Bool { failedActiveHealthCheck.load(ordering: .relaxed) }

    public var outstandingRequests: Int { activeRequests.load(ordering: .relaxed) }

    public func requestStarted() {
        activeRequests.wrappingAdd(1, ordering: .relaxed)
        if !hadTraffic.load(ordering: .relaxed) { hadTraffic.store(true, ordering: .relaxed) }
    }
    public func requestFinished() { activeRequests.wrappingSubtract(1, ordering: .relaxed) }

    public func isEjected(now: NIODeadline) -> Bool {
        let until = ejectedUntil.load(ordering: .relaxed)
        return until != 0 && now.uptimeNanoseconds < until
    }
}

/// A class: the balancer hands hosts around per request, and a reference is one retain.
public final class UpstreamHost: Sendable {
    public let address: SocketAddressConfig
    public let socketAddress: SocketAddress
    public let weight: Int
    public let locality: Locality
    public let priority: Int
    public let health: EndpointConfig.Health
    public let tlsMode: String?
    public let state: HostState

    public init(address: SocketAddressConfig, socketAddress: SocketAddress, weight: Int, locality: Locality,
                priority: Int, health: EndpointConfig.Health, tlsMode: String?, state: HostState) {
        self.address = address
        self.socketAddress = socketAddress
        self.weight = weight
        self.locality = locality
        self.priority = priority
        self.health = health
        self.tlsMode = tlsMode
        self.state = state
    }

    /// Healthy by EDS, passing active health checks, and not ejected by outlier detection.
    public func isAvailable(now: NIODeadline) -> Bool {
        (health == .healthy || health == .degraded) && !state.failedActiveHealthCheck.load(ordering: .relaxed) && !state.isEjected(now: now)
    }
}
