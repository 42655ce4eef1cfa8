// One finished span of one hop, as a tracer reports it.

/// A span the proxy made for one request: the server side of an inbound request or the client
/// side of an outbound one. Times are wall-clock microseconds, as both Zipkin and OTLP want
/// them.
public struct TraceSpan: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        case server
        case client
    }

    public var traceID: TraceID
    public var spanID: UInt64
    public var parentSpanID: UInt64?
    public var name: String
    public var kind: Kind
    public var startMicroseconds: Int64
    public var durationMicroseconds: Int64
    /// Tags in the order they were added; names are unique.
    public var tags: [(name: String, value: String)]
    /// The request failed (5xx, reset, or no response): Envoy's `error` tag, OTLP's error status.
    public var failed: Bool

    public init(traceID: TraceID, spanID: UInt64, parentSpanID: UInt64?, name: String, kind: Kind,
                startMicroseconds: Int64, durationMicroseconds: Int64, tags: [(name: String, value: String)], failed: Bool) {
        self.traceID = traceID
        self.spanID = spanID
        self.parentSpanID = parentSpanID
        self.name = name
        self.kind = kind
        self.startMicroseconds = startMicroseconds
        self.durationMicroseconds = durationMicroseconds
        self.tags = tags
        self.failed = failed
    }

    public static func == (lhs: TraceSpan, rhs: TraceSpan) -> Bool {
        lhs.traceID == rhs.traceID && lhs.spanID == rhs.spanID && lhs.parentSpanID == rhs.parentSpanID && lhs.name == rhs.name
            && lhs.kind == rhs.kind && lhs.startMicroseconds == rhs.startMicroseconds
            && lhs.durationMicroseconds == rhs.durationMicroseconds && lhs.failed == rhs.failed
            && lhs.tags.map(\.name) == rhs.tags.map(\.name) && lhs.tags.map(\.value) == rhs.tags.map(\.value)
    }
}

/// Who reports the spans: the Zipkin `localEndpoint` and the OTLP resource.
public struct SpanReporterIdentity: Sendable, Equatable {
    /// `app.namespace` for sidecars (Istio's default tracing service name).
    public var serviceName: String
    /// The proxy's IPv4 address, if it has one.
    public var ipv4: String?

    public init(serviceName: String, ipv4: String?) {
        self.serviceName = serviceName
        self.ipv4 = ipv4
    }
}
