// Envoy's format strings: parsing, Envoy's refusals, text and JSON rendering of a known record.

import NIOHTTP1
@testable import Telemetry
import Testing

@Suite struct AccessLogFormatTests {
    /// 2026-11-22T10:04:05.123456Z
    static let start: Int64 = 1_795_341_845_123_456

    static func record() -> AccessLogRecord {
        var record = AccessLogRecord(startTime: start)
        record.protocolName = "HTTP/1.1"
        record.method = "GET"
        record.path = "/productpage?u=1"
        record.requestHeaders = ["host": "productpage:9080", "user-agent": "curl/8", "x-request-id": "abc", "x-envoy-original-path": "/orig"]
        record.responseHeaders = ["x-envoy-upstream-service-time": "3", "content-type": "text/html"]
        record.responseCode = 200
        record.responseCodeDetails = "via_upstream"
        record.bytesReceived = 0
        record.bytesSent = 1234
        record.duration = 5_600_000
        record.upstreamHost = "127.0.0.9:9080"
        record.upstreamCluster = "outbound|9080||productpage.default.svc.cluster.local"
        record.downstreamRemoteAddress = "127.0.0.5:40000"
        record.downstreamLocalAddress = "127.0.0.6:9080"
        return record
    }

    static func line(_ format: AccessLogFormat, _ record: AccessLogRecord = record()) -> String {
        var bytes: [UInt8] = []
        format.render(record, into: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    @Test func envoyDefaultFormat() {
        #expect(Self.line(.envoyDefault) == """
            [2026-11-22T10:04:05.123Z] "GET /orig HTTP/1.1" 200 - 0 1234 5 3 "-" "curl/8" "abc" "productpage:9080" "127.0.0.9:9080"\n
            """)
    }

    @Test func alternativesLengthsAndMissingValues() throws {
        var record = Self.record()
        record.requestHeaders?.remove(name: "x-envoy-original-path")
        record.responseFlags = [.upstreamConnectionFailure, .upstreamRetryLimitExceeded]
        let format = try AccessLogFormat.text("%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %REQ(USER-AGENT):4% %RESPONSE_FLAGS% %ROUTE_NAME% "
                                              + "%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT% %DOWNSTREAM_LOCAL_PORT% 100%% %UPSTREAM_CLUSTER_RAW%")
        #expect(Self.line(format, record) == "/productpage?u=1 curl UF,URX - 127.0.0.5 9080 100% outbound|9080||productpage.default.svc.cluster.local")
        let omitting = try AccessLogFormat.text("[%ROUTE_NAME%]", omitEmpty: true)
        #expect(Self.line(omitting, record) == "[]")
    }

    @Test func startTimeFormats() throws {
        let custom = try AccessLogFormat.text("%START_TIME(%s %F %T.%6f %z)%")
        #expect(Self.line(custom) == "1795341845 2026-11-22 10:04:05.123456 +0000")
        // Before the epoch and on a leap day.
        var record = Self.record()
        record.startTime = 951_782_400_000_000  // 2000-02-29T00:00:00Z
        #expect(Self.line(try AccessLogFormat.text("%START_TIME%"), record) == "2000-02-29T00:00:00.000Z")
        record.startTime = -1_000_000
        #expect(Self.line(try AccessLogFormat.text("%START_TIME(%Y-%m-%d %H:%M:%S)%"), record) == "1969-12-31 23:59:59")
        // Fractions beyond microseconds are zeros; a length cuts a time like any text.
        record.startTime = 1_795_341_845_000_007
        #expect(Self.line(try AccessLogFormat.text("%START_TIME(%9f)% %START_TIME(%1f)% %START_TIME:10%"), record)
                == "000007000 0 2026-11-22")
    }

    @Test func numbersAndFlagsAreWrittenAsEnvoyWritesThem() throws {
        var record = Self.record()
        record.bytesReceived = 0
        record.bytesSent = 9_007_199_254_740_993
        record.responseFlags = [.upstreamConnectionFailure, .upstreamRetryLimitExceeded]
        let format = try AccessLogFormat.text("%BYTES_RECEIVED% %BYTES_SENT% %RESPONSE_FLAGS% %RESPONSE_FLAGS:4%")
        #expect(Self.line(format, record) == "0 9007199254740993 UF,URX UF,U")
        record.connectionID = 17
        record.downstreamTLSVersion = "TLSv1.3"
        #expect(Self.line(try AccessLogFormat.text("%CONNECTION_ID% %DOWNSTREAM_TLS_VERSION%"), record) == "17 TLSv1.3")
        record.downstreamTLSVersion = nil
        #expect(Self.line(try AccessLogFormat.text("%DOWNSTREAM_TLS_VERSION%"), record) == "-", "plaintext")
        var digits: [UInt8] = []
        DecimalText.append(-42, width: 4, to: &digits)
        DecimalText.append(Int64.min, to: &digits)
        #expect(String(decoding: digits, as: UTF8.self) == "-0042-9223372036854775808")
    }

    @Test func jsonKeepsNumbersTypedAndEscapes() {
        var record = Self.record()
        record.requestHeaders?.replaceOrAdd(name: "user-agent", value: "a \"quoted\"\nagent")
        let format = AccessLogFormat.json([
            .init(key: "code", value: .format([.command(.responseCode, maxLength: nil)])),
            .init(key: "agent", value: .format([.command(.requestHeader("user-agent", fallback: nil), maxLength: nil)])),
            .init(key: "route", value: .format([.command(.routeName, maxLength: nil)])),
            .init(key: "summary", value: .format([.literal("code="), .command(.responseCode, maxLength: nil)])),
            .init(key: "nested", value: .object([.init(key: "fixed", value: .literal("true"))])),
        ], omitEmpty: false)
        #expect(Self.line(format, record) == #"{"code":200,"agent":"a \"quoted\"\nagent","route":null,"summary":"code=200","nested":{"fixed":true}}"# + "\n")
        let omitting = AccessLogFormat.json([.init(key: "route", value: .format([.command(.routeName, maxLength: nil)]))], omitEmpty: true)
        #expect(Self.line(omitting, record) == "{}\n")
    }

    @Test func refusalsNameTheProblem() {
        let cases: [(String, String)] = [
            ("%DYNAMIC_METADATA(istio.mixer:status)%", "command operator %DYNAMIC_METADATA% is not supported by meshproxy"),
            ("%RESPONSE_CODE", "%RESPONSE_CODE is not closed by %"),
            ("a % b", "no command operator after %"),
            ("%REQ%", "%REQ% needs a header name"),
            ("%REQ(x:10%", "unclosed ( in %REQ"),
            ("%DURATION(x)%", "%DURATION% takes no argument"),
            ("%START_TIME(%Q)%", "%Q is not supported"),
            ("%REQ(x):0%", "needs a positive length"),
        ]
        for (format, expected) in cases {
            do {
                _ = try AccessLogFormat.parse(format)
                Issue.record("\(format) was accepted")
            } catch {
                #expect(error.description.contains(expected), "\(format): \(error.description)")
            }
        }
    }

    @Test func responseFlagsPrintInEnvoysOrder() {
        #expect(ResponseFlags().shortCodes == "-")
        #expect(([.downstreamConnectionTermination, .noRouteFound, .delayInjected] as ResponseFlags).shortCodes == "NR,DI,DC")
        #expect(ResponseFlags(code: "UO") == .upstreamOverflow)
        #expect(ResponseFlags(code: "XX") == nil)
    }
}
