// What meshd's xDS server counts for its /metrics page, with Istio's metric names.

import Synchronization
import XDSClient

/// Pushes and rejections per xDS type, and how long a change takes to reach each proxy
/// (Istio's `pilot_xds_pushes`, `pilot_total_xds_rejects`, `pilot_proxy_convergence_time`).
public final class XDSMetrics: Sendable {
    /// Istio's buckets for convergence time, in seconds.
    public static let convergenceBuckets: [Double] = [0.1, 0.5, 1, 3, 5, 10, 20, 30]

    public struct Values: Sendable {
        public var pushes: [String: Int] = [:]
        public var rejects: [String: Int] = [:]
        /// Cumulative counts per bucket (same order as `convergenceBuckets`), then the total.
        public var convergenceBucketCounts = [Int](repeating: 0, count: XDSMetrics.convergenceBuckets.count)
        public var convergenceCount = 0
        public var convergenceSum = 0.0
    }

    private let values = Mutex(Values())

    public init() {}

    public var current: Values { values.withLock { $0 } }

    func pushed(_ type: ResourceType) {
        values.withLock { $0.pushes[type.metricName, default: 0] += 1 }
    }

    func rejected(_ type: ResourceType?) {
        values.withLock { $0.rejects[type?.metricName ?? "unknown", default: 0] += 1 }
    }

    /// A proxy got the snapshot published `seconds` ago.
    func converged(after seconds: Double) {
        values.withLock { values in
            for (index, bound) in Self.convergenceBuckets.enumerated() where seconds <= bound {
                values.convergenceBucketCounts[index] += 1
            }
            values.convergenceCount += 1
            values.convergenceSum += seconds
        }
    }
}

extension ResourceType {
    /// Istio's `type` label values.
    var metricName: String { shortName.lowercased() }
}
