// Spans in Zipkin's v2 JSON (POST /api/v2/spans), the body Envoy's zipkin tracer sends with HTTP_JSON.

/// Zipkin v2: a JSON array of spans; IDs in lowercase hex, times in microseconds, tags as
/// strings. Envoy sends a 128-bit trace ID as 32 digits and its `error` tag on failed requests.
public enum ZipkinSpans {
    public static let contentType = "application/json"

    public static func json(_ spans: [TraceSpan], reporter: SpanReporterIdentity) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(spans.count * 600)
        out.append(UInt8(ascii: "["))
        for (index, span) in spans.enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            append(span, reporter: reporter, to: &out)
        }
        out.append(UInt8(ascii: "]"))
        return out
    }

    private static func append(_ span: TraceSpan, reporter: SpanReporterIdentity, to out: inout [UInt8]) {
        func key(_ name: StaticString) {
            out.append(UInt8(ascii: "\""))
            out.append(contentsOf: UnsafeBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount))
            out.append(contentsOf: [UInt8(ascii: "\""), UInt8(ascii: ":")])
        }
        func string(_ text: String) { AccessLogFormat.appendJSONString(Array(text.utf8), to: &out) }
        out.append(UInt8(ascii: "{"))
        key("traceId"); string(span.traceID.hex())
        out.append(UInt8(ascii: ","))
        key("id"); string(TraceHex.text(span.spanID))
        if let parent = span.parentSpanID {
            out.append(UInt8(ascii: ","))
            key("parentId"); string(TraceHex.text(parent))
        }
        out.append(UInt8(ascii: ","))
        key("kind"); string(span.kind == .server ? "SERVER" : "CLIENT")
        out.append(UInt8(ascii: ","))
        key("name"); string(span.name)
        out.append(UInt8(ascii: ","))
        key("timestamp"); DecimalText.append(span.startMicroseconds, to: &out)
        out.append(UInt8(ascii: ","))
        // Zipkin drops a zero duration as "unknown"; a finished span lasted at least 1 µs.
        key("duration"); DecimalText.append(max(1, span.durationMicroseconds), to: &out)
        out.append(UInt8(ascii: ","))
        key("localEndpoint")
        out.append(UInt8(ascii: "{"))
        key("serviceName"); string(reporter.serviceName)
        if let ipv4 = reporter.ipv4 {
            out.append(UInt8(ascii: ","))
            key("ipv4"); string(ipv4)
        }
        out.append(UInt8(ascii: "}"))
        out.append(UInt8(ascii: ","))
        key("tags")
        out.append(UInt8(ascii: "{"))
        for (index, tag) in span.tags.enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            string(tag.name)
            out.append(UInt8(ascii: ":"))
            string(tag.value)
        }
        out.append(UInt8(ascii: "}"))
        out.append(UInt8(ascii: "}"))
    }
}
