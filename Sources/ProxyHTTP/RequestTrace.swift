// One request's part in a trace: the sampling decision, the span this hop makes, and the context it passes on.

import NIOHTTP1
import ProxyConfig
import Telemetry

/// Envoy's tracing of a request through a connection manager, for the tracers meshproxy speaks:
/// - The decision: a trace reason already in `x-request-id` (an earlier Envoy or meshproxy put
///   it there) stands; else `x-client-trace-id` (client sampling), `x-envoy-force-trace`, or the
///   random sampling rate against the request ID decide, and the overall rate can veto a random
///   pick. The reason is written back into `x-request-id`, so later hops keep the decision. A
///   sampling flag in the incoming trace context overrides all of it, as Envoy's tracers do.
/// - The span: a new span ID, the caller's span as parent (or a new trace), a server span on
///   inbound listeners and a client span on outbound ones. The context passed on names this span.
/// - Unsampled requests still pass a context on (flag 0) and report nothing.
struct RequestTrace {
    let config: TracingConfig
    let outgoing: OutgoingTrace
    /// The span's name: the route's decorator, the caller's `x-envoy-decorator-operation`
    /// (server side), or the request's host.
    var operation: String
    let requestID: String

    /// The trace reasons Envoy's UUID request-ID extension keeps in the 15th character of
    /// `x-request-id` (the UUID version digit, `4` when nobody decided yet).
    private enum Reason: UInt8 {
        case sampled = 0x39  // "9"
        case forced = 0x61  // "a"
        case client = 0x62  // "b"
        case notTraced = 0x34  // "4"
    }

    static let decoratorHeader = "x-envoy-decorator-operation"

    init(config: TracingConfig, headers: HTTPHeaders, requestID: String, edge: Bool, random: inout RequestIDGenerator) {
        self.config = config
        let incoming = IncomingTrace.read(headers, propagation: config.propagation)
        var utf8 = Array(requestID.utf8)
        let isUUID = utf8.count == 36 && utf8[8] == UInt8(ascii: "-")
        // Envoy's request-ID integer: the first 8 hex digits, so every proxy on the path draws the same number.
        let draw = isUUID ? TraceHex.value(requestID.prefix(8)).map { Int($0 % 10_000) } : nil
        let roll = draw ?? Int(random.nextBits() % 10_000)
        var reason = isUUID ? Reason(rawValue: utf8[14]) : nil
        if reason == nil || reason == .notTraced {
            if headers.contains(name: "x-client-trace-id"), Int(random.nextBits() % 10_000) < config.clientSampling {
                reason = .client
            } else if !edge, headers.contains(name: "x-envoy-force-trace") {
                // An edge proxy does not let outside clients force traces (Envoy: internal requests only).
                reason = .forced
            } else if roll < config.randomSampling {
                reason = .sampled
            }
        }
        if reason == .sampled, roll >= config.overallSampling { reason = .notTraced }
        if isUUID, let reason { utf8[14] = reason.rawValue }
        self.requestID = isUUID ? String(decoding: utf8, as: UTF8.self) : requestID
        let decided = reason != nil && reason != .notTraced
        let sampled = incoming.sampled ?? decided
        let traceID = incoming.parent?.traceID
            ?? TraceID(high: config.traceID128 ? random.nextBits() : 0, low: Self.nonZero(&random))
        outgoing = OutgoingTrace(traceID: traceID, spanID: Self.nonZero(&random), parentSpanID: incoming.parent?.spanID,
                                 sampled: sampled, traceState: incoming.parent?.traceState)
        operation = headers.first(name: "host") ?? ""
    }

    private static func nonZero(_ random: inout RequestIDGenerator) -> UInt64 {
        var value = random.nextBits()
        while value == 0 { value = random.nextBits() }
        return value
    }

    /// The span's name once the route is known (Envoy's decorator rules).
    mutating func name(route: RouteConfig?, callerOperation: String?) {
        if config.spanKind == .server, let callerOperation, !callerOperation.isEmpty {
            operation = callerOperation
        } else if let named = route?.operation {
            operation = named
        }
    }

    /// The request as it leaves: the trace context of this hop, the trace reason in its
    /// request ID, and on the client side the operation for the server's span.
    func write(to headers: inout HTTPHeaders, route: RouteConfig?) {
        outgoing.write(to: &headers, propagation: config.propagation)
        if headers.first(name: "x-request-id") != requestID { headers.replaceOrAdd(name: "x-request-id", value: requestID) }
        switch config.spanKind {
        case .client:
            if let route, let named = route.operation, route.propagatesOperation {
                headers.replaceOrAdd(name: Self.decoratorHeader, value: named)
            }
        case .server:
            headers.remove(name: Self.decoratorHeader)
        }
    }

    /// `127.0.0.1:40000` → `127.0.0.1`, `[::1]:40000` → `::1`.
    static func hostPart(_ address: String) -> String {
        if address.hasPrefix("["), let close = address.firstIndex(of: "]") { return String(address[address.index(after: address.startIndex)..<close]) }
        return address.lastIndex(of: ":").map { String(address[..<$0]) } ?? address
    }

    /// The finished span, with Envoy's standard tags, then the configured ones. Empty values
    /// are left out, as Envoy leaves them.
    func span(_ record: AccessLogRecord, request: HTTPRequestHead, nodeID: String, scheme: String) -> TraceSpan {
        var tags: [(name: String, value: String)] = []
        func tag(_ name: String, _ value: String?) {
            guard let value, !value.isEmpty else { return }
            tags.append((name, value))
        }
        tag("node_id", nodeID)
        tag("guid:x-request-id", requestID)
        var url = "\(scheme)://\(request.headers.first(name: "host") ?? "")\(request.uri)"
        if url.utf8.count > config.maxPathTagLength { url = String(decoding: url.utf8.prefix(config.maxPathTagLength), as: UTF8.self) }
        tag("http.url", url)
        tag("http.method", request.method.rawValue)
        tag("downstream_cluster", request.headers.first(name: "x-envoy-downstream-service-cluster") ?? "-")
        tag("user_agent", request.headers.first(name: "user-agent") ?? "-")
        tag("http.protocol", record.protocolName)
        tag("peer.address", record.downstreamRemoteAddress.map(Self.hostPart))  // Envoy: the address without its port
        tag("guid:x-client-trace-id", request.headers.first(name: "x-client-trace-id"))
        tag("request_size", String(record.bytesReceived))
        tag("response_size", String(record.bytesSent))
        tag("component", "proxy")
        tag("upstream_cluster", record.upstreamCluster)
        tag("upstream_cluster.name", record.upstreamCluster)
        tag("http.status_code", String(record.responseCode))
        tag("response_flags", record.responseFlags.shortCodes)
        let failed = record.responseCode == 0 || record.responseCode >= 500
        if failed { tag("error", "true") }
        for custom in config.customTags {
            switch custom {
            case .literal(let name, let value): tag(name, value)
            case .requestHeader(let name, let header, let defaultValue): tag(name, request.headers.first(name: header) ?? defaultValue)
            }
        }
        let duration = (record.duration ?? 0) / 1_000
        return TraceSpan(traceID: outgoing.traceID, spanID: outgoing.spanID, parentSpanID: outgoing.parentSpanID, name: operation,
                         kind: config.spanKind, startMicroseconds: record.startTime, durationMicroseconds: duration, tags: tags, failed: failed)
    }
}
