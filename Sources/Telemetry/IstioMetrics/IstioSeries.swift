// Istio's standard metrics as series: one label set per request kind, and what each accumulates.

/// The label values of one series, in the order of `IstioSeries.requestLabels` (HTTP and gRPC)
/// or `IstioSeries.connectionLabels` (TCP). Values are already Istio's: `unknown` where a peer
/// did not say. This is the scrape's form; recording uses `IstioRequestSeries`.
public struct IstioSeriesKey: Hashable, Sendable, Comparable {
    /// The standard labels' values, then the values of the tags `overrides` sets.
    public let values: [String]
    /// The Telemetry overrides of the chain that recorded the series (nil: none).
    public let overrides: IstioMetricOverrides?
    public init(_ values: [String], overrides: IstioMetricOverrides? = nil) {
        self.values = values
        self.overrides = overrides
    }

    public static func < (lhs: IstioSeriesKey, rhs: IstioSeriesKey) -> Bool {
        lhs.values.lexicographicallyPrecedes(rhs.values)
    }
}

/// The first 20 label values of a series (reporter through `destination_cluster`), built once
/// per peer and service and shared by reference, so a request's series hashes an address and a
/// few numbers instead of 25 strings.
public final class IstioPeerLabels: Hashable, Sendable {
    public let values: [String]
    public init(_ values: [String]) { self.values = values }

    public static func == (lhs: IstioPeerLabels, rhs: IstioPeerLabels) -> Bool { lhs === rhs }
    public func hash(into hasher: inout Hasher) { hasher.combine(ObjectIdentifier(self)) }
}

/// `connection_security_policy`: what the reporting proxy saw of the connection's TLS.
public enum IstioSecurityPolicy: String, Sendable, Hashable {
    case mutualTLS = "mutual_tls"
    case none
    /// A client sidecar cannot tell how the server's proxy took the connection.
    case unknown
}

/// One request series as a worker records it: its peer labels by reference and the outcome.
public struct IstioRequestSeries: Hashable, Sendable {
    public let peer: IstioPeerLabels
    public let security: IstioSecurityPolicy
    public let isGRPC: Bool
    public let responseCode: Int
    /// Only for gRPC: Istio leaves the label empty for plain HTTP.
    public let grpcStatus: Int?
    public let flags: ResponseFlags
    public let overrides: IstioMetricOverrides?
    /// The values of the tags `overrides` sets, for this request.
    public let custom: [String]

    public init(peer: IstioPeerLabels, security: IstioSecurityPolicy, record: AccessLogRecord, overrides: IstioMetricOverrides? = nil) {
        self.peer = peer
        self.security = security
        self.overrides = overrides
        custom = overrides?.customValues(record) ?? []
        let contentType = record.requestHeaders?.first(name: "content-type")
        isGRPC = contentType?.hasPrefix("application/grpc") ?? false
        responseCode = record.responseCode
        grpcStatus = isGRPC ? record.grpcStatus : nil
        flags = record.responseFlags
    }

    /// The label values, in `IstioSeries.requestLabels`' order.
    public var key: IstioSeriesKey {
        IstioSeriesKey(peer.values + [
            isGRPC ? "grpc" : "http", String(responseCode), grpcStatus.map(String.init) ?? "", flags.shortCodes,
            security.rawValue,
        ] + custom, overrides: overrides)
    }
}

/// One TCP series as a worker records it.
public struct IstioConnectionSeries: Hashable, Sendable {
    public let peer: IstioPeerLabels
    public let security: IstioSecurityPolicy
    public let flags: ResponseFlags
    public let overrides: IstioMetricOverrides?

    public init(peer: IstioPeerLabels, security: IstioSecurityPolicy, flags: ResponseFlags, overrides: IstioMetricOverrides? = nil) {
        self.peer = peer
        self.security = security
        self.flags = flags
        self.overrides = overrides
    }

    /// The label values, in `IstioSeries.connectionLabels`' order.
    public var key: IstioSeriesKey {
        IstioSeriesKey(peer.values + ["tcp", flags.shortCodes, security.rawValue] + (overrides?.customValues(nil) ?? []), overrides: overrides)
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
