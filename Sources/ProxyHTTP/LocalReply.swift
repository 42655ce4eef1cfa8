// Answers the proxy makes itself (no route, no upstream, timeouts, faults, overflow), with Envoy's texts, response flags and details.

import NIOCore
import NIOHTTP1
import Telemetry

/// A response the proxy generates. The bodies are Envoy's, so clients and tests that look
/// for them (`no healthy upstream`, `upstream request timeout`...) behave the same; so are the
/// response flag and `%RESPONSE_CODE_DETAILS%` text each leaves in the access log.
struct LocalReply {
    var status: HTTPResponseStatus
    var body: String
    var flags: ResponseFlags
    var details: String
    var extraHeaders: [(String, String)] = []

    static let noRoute = LocalReply(status: .notFound, body: "", flags: .noRouteFound, details: "route_not_found")
    static let clusterNotFound = LocalReply(status: .serviceUnavailable, body: "", flags: .noClusterFound, details: "cluster_not_found")
    static let noHealthyUpstream = LocalReply(status: .serviceUnavailable, body: "no healthy upstream", flags: .noHealthyUpstream,
                                              details: "no_healthy_upstream")
    static let timeout = LocalReply(status: .gatewayTimeout, body: "upstream request timeout", flags: .upstreamRequestTimeout,
                                    details: "upstream_response_timeout")
    static let overflow = LocalReply(status: .serviceUnavailable,
                                     body: "upstream connect error or disconnect/reset before headers. reset reason: overflow",
                                     flags: .upstreamOverflow, details: "upstream_reset_before_response_started{overflow}",
                                     extraHeaders: [("x-envoy-overloaded", "true")])
    static let connectFailure = LocalReply(status: .serviceUnavailable,
                                           body: "upstream connect error or disconnect/reset before headers. reset reason: connection failure",
                                           flags: .upstreamConnectionFailure,
                                           details: "upstream_reset_before_response_started{remote_connection_failure}")
    static let upstreamReset = LocalReply(status: .serviceUnavailable,
                                          body: "upstream connect error or disconnect/reset before headers. reset reason: connection termination",
                                          flags: .upstreamConnectionTermination,
                                          details: "upstream_reset_before_response_started{connection_termination}")

    // The downstream edge's own answers. Codec errors carry the status's reason phrase as body,
    // as Envoy's HTTP/1 codec does.
    static let badRequest = LocalReply(status: .badRequest, body: "Bad Request", flags: .downstreamProtocolError, details: "http1.codec_error")
    static let headersTooLarge = LocalReply(status: .requestHeaderFieldsTooLarge, body: "Request Header Fields Too Large",
                                            flags: .downstreamProtocolError, details: "http1.headers_too_large")
    static let streamIdleTimeout = LocalReply(status: .requestTimeout, body: "stream timeout", flags: .streamIdleTimeout,
                                              details: "stream_idle_timeout")
    static let requestHeadersTimeout = LocalReply(status: .requestTimeout, body: "request headers timeout", flags: .downstreamProtocolError,
                                                  details: "request_header_timeout")
    static let requestTimeout = LocalReply(status: .requestTimeout, body: "request timeout", flags: .durationTimeout,
                                           details: "request_overall_timeout")
    static let upgradeRefused = LocalReply(status: .forbidden, body: "", flags: [], details: "upgrade_failed")

    static func faultAbort(_ status: Int) -> LocalReply {
        LocalReply(status: HTTPResponseStatus(statusCode: status), body: "fault filter abort", flags: .faultInjected, details: "fault_filter_abort")
    }
}
