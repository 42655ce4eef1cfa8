// A cluster's circuit-breaker counters, shared by every worker (Envoy's resource manager).

import Synchronization

/// Connections, pending requests, requests and retries in flight for one cluster across all
/// workers. Each is taken before use and given back after; taking one above its threshold fails,
/// which the router turns into a 503 with `x-envoy-overloaded` (response flag UO).
public final class ClusterResources: Sendable {
    public enum Kind: Sendable { case connections, pendingRequests, requests, retries }

    private let connections = Atomic<Int>(0)
    private let pendingRequests = Atomic<Int>(0)
    private let requests = Atomic<Int>(0)
    private let retries = Atomic<Int>(0)
    /// Requests refused by a threshold (`upstream_rq_pending_overflow` and friends, summed).
    public let overflows = Atomic<Int>(0)
    /// Requests that timed out (global or per try) and retries started, for Envoy's per-cluster
    /// `upstream_rq_timeout` and `upstream_rq_retry`: rare events, so a shared counter costs nothing.
    public let timeouts = Atomic<Int>(0)
    public let retriesStarted = Atomic<Int>(0)
    /// Active health checks (Envoy's `health_check.*` counters): started, passed, failed, and
    /// failed without an answer (connect error, reset, timeout).
    public let healthCheckAttempts = Atomic<Int>(0)
    public let healthCheckSuccesses = Atomic<Int>(0)
    public let healthCheckFailures = Atomic<Int>(0)
    public let healthCheckNetworkFailures = Atomic<Int>(0)

    public init() {}

    @inline(__always)
    private func with<T>(_ kind: Kind, _ body: (borrowing Atomic<Int>) -> T) -> T {
        switch kind {
        case .connections: return body(connections)
        case .pendingRequests: return body(pendingRequests)
        case .requests: return body(requests)
        case .retries: return body(retries)
        }
    }

    /// Takes one unit of `kind` unless `limit` are already taken.
    public func tryAcquire(_ kind: Kind, limit: Int) -> Bool {
        with(kind) { counter in
            let after = counter.wrappingAdd(1, ordering: .relaxed).newValue
            if after > limit {
                counter.wrappingSubtract(1, ordering: .relaxed)
                overflows.wrappingAdd(1, ordering: .relaxed)
                return false
            }
            return true
        }
    }

    public func release(_ kind: Kind) {
        with(kind) { counter in _ = counter.wrappingSubtract(1, ordering: .relaxed) }
    }

    public func current(_ kind: Kind) -> Int {
        with(kind) { counter in counter.load(ordering: .relaxed) }
    }
}
