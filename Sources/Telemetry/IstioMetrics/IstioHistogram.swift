// A histogram with Envoy's default buckets, which Istio's standard histograms use.

/// Observations counted per bucket (not cumulative), with their count and sum, as Prometheus
/// histograms report them. Istio's `istio_request_duration_milliseconds`, `istio_request_bytes`
/// and `istio_response_bytes` use Envoy's default bounds, so dashboards' `histogram_quantile`
/// queries see the same `le` values from meshproxy as from istio-proxy.
public struct IstioHistogram: Sendable, Equatable {
    /// Envoy's default bucket bounds (`le`, inclusive).
    public static let bounds: [Double] = [0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000,
                                          60000, 300000, 600000, 1_800_000, 3_600_000]
    /// The bounds as Envoy prints them in `le` labels (six significant digits, `%g`).
    static let boundLabels = ["0.5", "1", "5", "10", "25", "50", "100", "250", "500", "1000", "2500", "5000", "10000",
                              "30000", "60000", "300000", "600000", "1.8e+06", "3.6e+06"]

    /// Per bound, the observations above the previous bound and at most this one; the last slot
    /// counts those above every bound.
    public private(set) var buckets = [UInt64](repeating: 0, count: IstioHistogram.bounds.count + 1)
    public private(set) var count: UInt64 = 0
    public private(set) var sum: Double = 0

    public init() {}

    public mutating func observe(_ value: Double) {
        // 19 bounds: a linear scan stops early for the small values most requests have.
        var slot = 0
        while slot < Self.bounds.count, value > Self.bounds[slot] { slot += 1 }
        buckets[slot] += 1
        count += 1
        sum += value
    }

    /// Adds another worker's observations of the same series.
    public mutating func merge(_ other: IstioHistogram) {
        for slot in buckets.indices { buckets[slot] += other.buckets[slot] }
        count += other.count
        sum += other.sum
    }
}
