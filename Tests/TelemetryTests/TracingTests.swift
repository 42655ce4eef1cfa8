// Trace context in B3 and W3C headers, read and written; spans as Zipkin v2 JSON and as OTLP protobuf.

import Foundation
import NIOHTTP1
@testable import Telemetry
import Testing

@Suite struct TraceContextTests {
    static let trace = "463ac35c9f6413ad48485a3953bb6124"
    static let span = "a2fb4a1d1a96d312"

    @Test func b3HeadersGiveTheCallersSpanAndDecision() {
        let headers: HTTPHeaders = ["x-b3-traceid": Self.trace, "x-b3-spanid": Self.span, "x-b3-sampled": "1"]
        let incoming = IncomingTrace.read(headers, propagation: .b3)
        #expect(incoming.parent?.traceID.hex() == Self.trace)
        #expect(incoming.parent.map { TraceHex.text($0.spanID) } == Self.span)
        #expect(incoming.sampled == true)
        // 64-bit B3 trace IDs are kept as such.
        let short = IncomingTrace.read(["x-b3-traceid": "48485a3953bb6124", "x-b3-spanid": Self.span], propagation: .b3)
        #expect(short.parent?.traceID == TraceID(high: 0, low: 0x4848_5a39_53bb_6124))
        #expect(short.sampled == nil)
    }

    @Test func theSingleB3HeaderAndDecisionsAlone() {
        let single = IncomingTrace.read(["b3": "\(Self.trace)-\(Self.span)-0-05e3ac9a4f6e3b90"], propagation: .b3)
        #expect(single.parent?.traceID.hex() == Self.trace)
        #expect(single.sampled == false)
        #expect(IncomingTrace.read(["b3": "0"], propagation: .b3) == IncomingTrace(sampled: false))
        #expect(IncomingTrace.read(["x-b3-sampled": "0"], propagation: .b3) == IncomingTrace(sampled: false))
        #expect(IncomingTrace.read(["x-b3-flags": "1"], propagation: .b3) == IncomingTrace(sampled: true))
    }

    @Test func traceparentIsReadOnlyWhenW3CIsOn() {
        let headers: HTTPHeaders = ["traceparent": "00-\(Self.trace)-\(Self.span)-01", "tracestate": "vendor=1"]
        let w3c = IncomingTrace.read(headers, propagation: .w3c)
        #expect(w3c.parent?.traceID.hex() == Self.trace)
        #expect(w3c.parent?.traceState == "vendor=1")
        #expect(w3c.sampled == true)
        #expect(IncomingTrace.read(headers, propagation: .b3) == IncomingTrace())
        #expect(IncomingTrace.read(headers, propagation: .b3AndW3C).parent?.traceID.hex() == Self.trace)
    }

    /// A malformed context starts a new trace rather than fail the request.
    @Test(arguments: [
        ["x-b3-traceid": "00000000000000000000000000000000", "x-b3-spanid": span],
        ["x-b3-traceid": "463ac35c9f6413ad4848", "x-b3-spanid": span],
        ["x-b3-traceid": trace, "x-b3-spanid": "zzfb4a1d1a96d312"],
        ["b3": "\(trace)-\(span)-maybe"],
        ["traceparent": "ff-\(trace)-\(span)-01"],
        ["traceparent": "00-\(trace)-0000000000000000-01"],
        ["traceparent": "00-\(trace)-\(span)-01-extra"],
    ])
    func malformedContextsAreAbsent(_ fields: [String: String]) {
        let headers = HTTPHeaders(fields.map { ($0.key, $0.value) })
        #expect(IncomingTrace.read(headers, propagation: .b3AndW3C).parent == nil)
    }

    @Test func theNextHopReadsBackWhatThisOneWrote() throws {
        let traceID = TraceID(high: 0x463a_c35c_9f64_13ad, low: 0x4848_5a39_53bb_6124)
        let outgoing = OutgoingTrace(traceID: traceID, spanID: 0x1111_2222_3333_4444, parentSpanID: 0xa2fb_4a1d_1a96_d312, sampled: true)
        var headers: HTTPHeaders = ["b3": "stale", "x-b3-flags": "1"]
        outgoing.write(to: &headers, propagation: .b3AndW3C)
        #expect(headers["b3"].isEmpty && headers["x-b3-flags"].isEmpty)
        #expect(headers.first(name: "x-b3-parentspanid") == Self.span)
        #expect(headers.first(name: "traceparent") == "00-\(Self.trace)-1111222233334444-01")
        let next = IncomingTrace.read(headers, propagation: .b3AndW3C)
        #expect(next.parent == IncomingTrace.Parent(traceID: traceID, spanID: 0x1111_2222_3333_4444))
        #expect(next.sampled == true)
    }
}

@Suite struct SpanEncodingTests {
    static let span = TraceSpan(traceID: TraceID(high: 1, low: 2), spanID: 0xabc, parentSpanID: 0xdef, name: "reviews:9080/*", kind: .server,
                                startMicroseconds: 1_795_341_845_123_456, durationMicroseconds: 1500,
                                tags: [("http.status_code", "503"), ("quote", "a\"b")], failed: true)
    static let reporter = SpanReporterIdentity(serviceName: "reviews.default", ipv4: "127.0.1.3")

    @Test func zipkinV2JSON() throws {
        let bytes = ZipkinSpans.json([Self.span], reporter: Self.reporter)
        let spans = try #require(try JSONSerialization.jsonObject(with: Data(bytes)) as? [[String: Any]])
        let span = try #require(spans.first)
        #expect(span["traceId"] as? String == "00000000000000010000000000000002")
        #expect(span["id"] as? String == "0000000000000abc")
        #expect(span["parentId"] as? String == "0000000000000def")
        #expect(span["kind"] as? String == "SERVER")
        #expect(span["timestamp"] as? Int == 1_795_341_845_123_456)
        #expect(span["duration"] as? Int == 1500)
        #expect((span["localEndpoint"] as? [String: String]) == ["serviceName": "reviews.default", "ipv4": "127.0.1.3"])
        #expect((span["tags"] as? [String: String]) == ["http.status_code": "503", "quote": "a\"b"])
    }

    /// Walks the protobuf by field number: request.resource_spans → scope_spans → spans.
    @Test func otlpExportRequest() throws {
        let request = OTLPSpans.exportRequest([Self.span], reporter: Self.reporter)
        let resourceSpans = try #require(Self.fields(request)[1]?.first)
        let resource = try #require(Self.fields(resourceSpans)[1]?.first)
        let attribute = try #require(Self.fields(resource)[1]?.first)
        #expect(String(decoding: Self.fields(attribute)[1]?.first ?? [], as: UTF8.self) == "service.name")
        let scopeSpans = try #require(Self.fields(resourceSpans)[2]?.first)
        let span = Self.fields(try #require(Self.fields(scopeSpans)[2]?.first))
        #expect(span[1]?.first == [0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2])
        #expect(span[2]?.first == [0, 0, 0, 0, 0, 0, 0x0a, 0xbc])
        #expect(span[4]?.first == [0, 0, 0, 0, 0, 0, 0x0d, 0xef])
        #expect(String(decoding: span[5]?.first ?? [], as: UTF8.self) == "reviews:9080/*")
        #expect(span[6]?.first == [2])  // SPAN_KIND_SERVER
        let start = UInt64(1_795_341_845_123_456) * 1000
        #expect(span[7]?.first == (0..<8).map { UInt8(truncatingIfNeeded: start >> UInt64($0 * 8)) })
        #expect(span[9]?.count == 2)
        let status = Self.fields(try #require(span[15]?.first))
        #expect(status[3]?.first == [2])  // STATUS_CODE_ERROR
        #expect(OTLPSpans.grpcFrame(request).prefix(5) == [0, 0, 0, UInt8(request.count >> 8), UInt8(request.count & 0xff)])
    }

    /// Field number → values (varints as their single byte here, fixed64 as 8 bytes, length-delimited as their bytes).
    static func fields(_ bytes: [UInt8]) -> [Int: [[UInt8]]] {
        var result: [Int: [[UInt8]]] = [:]
        var index = 0
        func varint() -> UInt64 {
            var value: UInt64 = 0
            var shift: UInt64 = 0
            while true {
                let byte = bytes[index]
                index += 1
                value |= UInt64(byte & 0x7f) << shift
                if byte < 0x80 { return value }
                shift += 7
            }
        }
        while index < bytes.count {
            let key = varint()
            let field = Int(key >> 3)
            switch key & 7 {
            case 0: result[field, default: []].append([UInt8(truncatingIfNeeded: varint())])
            case 1:
                result[field, default: []].append(Array(bytes[index..<index + 8]))
                index += 8
            case 2:
                let length = Int(varint())
                result[field, default: []].append(Array(bytes[index..<index + length]))
                index += length
            default: return result
            }
        }
        return result
    }
}
