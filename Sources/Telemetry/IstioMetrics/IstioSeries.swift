// Istio's standard metrics as series: one label set per request kind, and what each accumulates.

/// The label values of one series, in the order of `IstioSeries.requestLabels` (HTTP and gRPC)
/// or `IstioSeries.connectionLabels` (TCP). Values are already Istio's: `unknown` where a peer
/// did not say.
public struct IstioSeriesKey: Hashable, Sendable, Comparable {
    public let values: [String]
    public init(_ values: [String]) { self.values = values }

    public static func < (lhs: IstioSeriesKey, rhs: IstioSeriesKey) -> Bool {
        lhs.values.lexicographicallyPrecedes(rhs.values)
    }
}

public enum IstioSeries {
    /// Istio's labels on `istio_requests_total` and the request histograms, in its order.
    public static let requestLabels = [
        "reporter", "source_workload", "source_canonical_service", "source_canonical_revision",
        "source_workload_namespace", "source_principal", "source_app", "source_version", "source_cluster",
        "destination_workload", "destination_workload_namespace", "destination_principal", "destination_app",
        "destination_version", "destination_service", "destination_service_name", "destination_service_namespace",
        "destination_canonical_service", "destination_canonical_revision", "destination_cluster",
        "request_protocol", "response_code", "grpc_response_status", "response_flags", "connection_security_policy",
    ]

    /// Istio's labels on the `istio_tcp_*` metrics: the request labels without the response's.
    public static let connectionLabels = requestLabels.filter { $0 != "response_code" && $0 != "grpc_response_status" }

    /// What one HTTP series has seen.
    public struct Requests: Sendable, Equatable {
        public var total: UInt64 = 0
        public var durationMilliseconds = IstioHistogram()
        public var requestBytes = IstioHistogram()
        public var responseBytes = IstioHistogram()
        public init() {}

        mutating func merge(_ other: Requests) {
            total += other.total
            durationMilliseconds.merge(other.durationMilliseconds)
            requestBytes.merge(other.requestBytes)
            responseBytes.merge(other.responseBytes)
        }
    }

    /// What one TCP series has seen.
    public struct Connections: Sendable, Equatable {
        public var opened: UInt64 = 0
        public var closed: UInt64 = 0
        public var sentBytes: UInt64 = 0
        public var receivedBytes: UInt64 = 0
        public init() {}

        mutating func merge(_ other: Connections) {
            opened += other.opened
            closed += other.closed
            sentBytes += other.sentBytes
            receivedBytes += other.receivedBytes
        }
    }
}
