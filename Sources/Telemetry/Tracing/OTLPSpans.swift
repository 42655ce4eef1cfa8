// Spans as an OTLP ExportTraceServiceRequest in protobuf, the body of OTLP/HTTP (POST /v1/traces) and OTLP/gRPC.

/// The OTLP trace export request, written field by field: meshproxy sends one message type, so
/// a small writer for its fields costs less than generating opentelemetry-proto. Field numbers
/// are those of `opentelemetry/proto/{collector/trace,trace,resource,common}/v1`.
public enum OTLPSpans {
    public static let contentType = "application/x-protobuf"
    public static let scopeName = "swiftmesh.meshproxy"

    public static func exportRequest(_ spans: [TraceSpan], reporter: SpanReporterIdentity) -> [UInt8] {
        var resource = ProtobufWriter()
        resource.message(1, keyValue("service.name", reporter.serviceName))  // Resource.attributes
        var scope = ProtobufWriter()
        scope.string(1, scopeName)  // InstrumentationScope.name
        var scopeSpans = ProtobufWriter()
        scopeSpans.message(1, scope.bytes)  // ScopeSpans.scope
        for span in spans { scopeSpans.message(2, encode(span)) }  // ScopeSpans.spans
        var resourceSpans = ProtobufWriter()
        resourceSpans.message(1, resource.bytes)  // ResourceSpans.resource
        resourceSpans.message(2, scopeSpans.bytes)  // ResourceSpans.scope_spans
        var request = ProtobufWriter()
        request.message(1, resourceSpans.bytes)  // ExportTraceServiceRequest.resource_spans
        return request.bytes
    }

    /// The request in a gRPC message frame (uncompressed flag, 4-byte big-endian length).
    public static func grpcFrame(_ message: [UInt8]) -> [UInt8] {
        let length = UInt32(message.count)
        return [0, UInt8(length >> 24), UInt8(length >> 16 & 0xff), UInt8(length >> 8 & 0xff), UInt8(length & 0xff)] + message
    }

    private static func encode(_ span: TraceSpan) -> [UInt8] {
        var out = ProtobufWriter()
        out.bytesField(1, bigEndian(span.traceID.high) + bigEndian(span.traceID.low))  // trace_id
        out.bytesField(2, bigEndian(span.spanID))  // span_id
        if let parent = span.parentSpanID { out.bytesField(4, bigEndian(parent)) }  // parent_span_id
        out.string(5, span.name)  // name
        out.varint(6, span.kind == .server ? 2 : 3)  // kind: SPAN_KIND_SERVER, SPAN_KIND_CLIENT
        let start = UInt64(max(0, span.startMicroseconds)) * 1000
        out.fixed64(7, start)  // start_time_unix_nano
        out.fixed64(8, start + UInt64(max(0, span.durationMicroseconds)) * 1000)  // end_time_unix_nano
        for tag in span.tags { out.message(9, keyValue(tag.name, tag.value)) }  // attributes
        if span.failed {
            var status = ProtobufWriter()
            status.varint(3, 2)  // Status.code: STATUS_CODE_ERROR
            out.message(15, status.bytes)  // status
        }
        return out.bytes
    }

    /// `KeyValue{key, value: AnyValue{string_value}}`.
    private static func keyValue(_ key: String, _ value: String) -> [UInt8] {
        var any = ProtobufWriter()
        any.string(1, value)
        var pair = ProtobufWriter()
        pair.string(1, key)
        pair.message(2, any.bytes)
        return pair.bytes
    }

    private static func bigEndian(_ value: UInt64) -> [UInt8] {
        (0..<8).map { UInt8(truncatingIfNeeded: value >> UInt64((7 - $0) * 8)) }
    }
}

/// Protobuf's wire format for the field kinds OTLP's trace request uses.
struct ProtobufWriter {
    private(set) var bytes: [UInt8] = []

    private mutating func tag(_ field: Int, _ wireType: UInt64) {
        appendVarint(UInt64(field) << 3 | wireType)
    }

    private mutating func appendVarint(_ value: UInt64) {
        var value = value
        while value >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: value) | 0x80)
            value >>= 7
        }
        bytes.append(UInt8(value))
    }

    mutating func varint(_ field: Int, _ value: UInt64) {
        tag(field, 0)
        appendVarint(value)
    }

    mutating func fixed64(_ field: Int, _ value: UInt64) {
        tag(field, 1)
        for shift in stride(from: 0, to: 64, by: 8) { bytes.append(UInt8(truncatingIfNeeded: value >> UInt64(shift))) }
    }

    mutating func bytesField(_ field: Int, _ value: [UInt8]) {
        tag(field, 2)
        appendVarint(UInt64(value.count))
        bytes.append(contentsOf: value)
    }

    mutating func string(_ field: Int, _ value: String) { bytesField(field, Array(value.utf8)) }

    mutating func message(_ field: Int, _ encoded: [UInt8]) { bytesField(field, encoded) }
}
