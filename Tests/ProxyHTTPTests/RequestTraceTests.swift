// The sampling decision, the span a hop makes and the context it passes on, as Envoy's tracing does them.

import NIOHTTP1
@testable import ProxyConfig
@testable import ProxyHTTP
import Telemetry
import Testing

@Suite struct RequestTraceTests {
    static let requestID = "3b4a5e16-1b2c-4d3e-8f90-0a1b2c3d4e5f"

    static func config(sampling: Int, overall: Int = 10_000, kind: TraceSpan.Kind = .server) -> TracingConfig {
        let target = TracingConfig.HTTPTarget(cluster: "zipkin", authority: "zipkin", path: "/api/v2/spans", timeout: .seconds(5), headers: [])
        var config = TracingConfig(collector: .zipkin(target), propagation: .b3, traceID128: true, randomSampling: sampling, clientSampling: 10_000,
                                   overallSampling: overall, maxPathTagLength: 256, customTags: [.literal(name: "team", value: "books")])
        config.spanKind = kind
        return config
    }

    static func trace(_ config: TracingConfig, _ headers: HTTPHeaders = [:], requestID: String = requestID, edge: Bool = false) -> RequestTrace {
        var random = RequestIDGenerator(seed: 7)
        return RequestTrace(config: config, headers: headers, requestID: requestID, edge: edge, random: &random)
    }

    @Test func aSampledRequestCarriesTheDecisionInItsRequestID() {
        let trace = Self.trace(Self.config(sampling: 10_000))
        #expect(trace.outgoing.sampled)
        #expect(trace.outgoing.parentSpanID == nil)
        #expect(trace.outgoing.traceID.high != 0)
        #expect(Array(trace.requestID.utf8)[14] == UInt8(ascii: "9"))
        var headers: HTTPHeaders = ["x-request-id": Self.requestID]
        trace.write(to: &headers, route: nil)
        #expect(headers.first(name: "x-request-id") == trace.requestID)
        #expect(headers.first(name: "x-b3-sampled") == "1")
        #expect(headers.first(name: "x-b3-spanid") == TraceHex.text(trace.outgoing.spanID))
    }

    @Test func theNextHopKeepsTheDecisionWhateverItsOwnRate() {
        let first = Self.trace(Self.config(sampling: 10_000))
        // An app passes x-request-id on but no B3 headers: the request ID still says "sampled".
        #expect(Self.trace(Self.config(sampling: 0), requestID: first.requestID).outgoing.sampled)
        // Not decided yet, 0%: not sampled, and the request ID is unchanged.
        let unsampled = Self.trace(Self.config(sampling: 0))
        #expect(!unsampled.outgoing.sampled && unsampled.requestID == Self.requestID)
        // The overall rate vetoes a random pick.
        #expect(!Self.trace(Self.config(sampling: 10_000, overall: 0)).outgoing.sampled)
    }

    @Test func theCallersContextAndFlagWin() {
        let headers: HTTPHeaders = ["x-b3-traceid": "463ac35c9f6413ad48485a3953bb6124", "x-b3-spanid": "a2fb4a1d1a96d312", "x-b3-sampled": "1"]
        let trace = Self.trace(Self.config(sampling: 0), headers)
        #expect(trace.outgoing.sampled)
        #expect(trace.outgoing.traceID.hex() == "463ac35c9f6413ad48485a3953bb6124")
        #expect(trace.outgoing.parentSpanID == 0xa2fb_4a1d_1a96_d312)
        #expect(trace.outgoing.spanID != 0xa2fb_4a1d_1a96_d312)
        #expect(!Self.trace(Self.config(sampling: 10_000), ["x-b3-sampled": "0"]).outgoing.sampled)
    }

    @Test func forcedTracesOnlyFromInside() {
        #expect(Self.trace(Self.config(sampling: 0), ["x-envoy-force-trace": "true"]).outgoing.sampled)
        #expect(Array(Self.trace(Self.config(sampling: 0), ["x-envoy-force-trace": "true"]).requestID.utf8)[14] == UInt8(ascii: "a"))
        #expect(!Self.trace(Self.config(sampling: 0), ["x-envoy-force-trace": "true"], edge: true).outgoing.sampled)
    }

    @Test func theSpanIsNamedByTheCallersOperationAndCarriesEnvoysTags() {
        var server = Self.trace(Self.config(sampling: 10_000), ["host": "reviews:9080"])
        #expect(server.operation == "reviews:9080")
        server.name(route: nil, callerOperation: "reviews.default.svc.cluster.local:9080/*")
        #expect(server.operation == "reviews.default.svc.cluster.local:9080/*")
        var headers: HTTPHeaders = [RequestTrace.decoratorHeader: "reviews.default.svc.cluster.local:9080/*"]
        server.write(to: &headers, route: nil)
        #expect(headers[RequestTrace.decoratorHeader].isEmpty)  // the app never sees it

        var record = AccessLogRecord(startTime: 1_795_341_845_123_456)
        record.protocolName = "HTTP/1.1"
        record.responseCode = 503
        record.responseFlags = .upstreamOverflow
        record.duration = 2_500_000
        record.upstreamCluster = "inbound|9080||"
        let request = HTTPRequestHead(version: .http1_1, method: .GET, uri: "/reviews/0", headers: ["host": "reviews:9080"])
        let span = server.span(record, request: request, nodeID: "sidecar~127.0.1.3~reviews-v1.default~default.svc.cluster.local", scheme: "http")
        let tags = Dictionary(uniqueKeysWithValues: span.tags.map { ($0.name, $0.value) })
        #expect(span.kind == .server && span.failed && span.durationMicroseconds == 2500)
        #expect(tags["http.url"] == "http://reviews:9080/reviews/0")
        #expect(tags["http.status_code"] == "503" && tags["response_flags"] == "UO" && tags["error"] == "true")
        #expect(tags["guid:x-request-id"] == server.requestID && tags["team"] == "books" && tags["user_agent"] == "-")
        #expect(tags["peer.address"] == nil)  // empty values are left out
        #expect(RequestTrace.hostPart("127.0.0.5:40000") == "127.0.0.5" && RequestTrace.hostPart("[::1]:40000") == "::1")
    }
}
