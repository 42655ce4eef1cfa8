// Answers the proxy makes itself (no route, no upstream, timeouts, faults, overflow), with Envoy's texts and response flags.

import NIOCore
import NIOHTTP1

/// A response the proxy generates. The bodies are Envoy's, so clients and tests that look
/// for them (`no healthy upstream`, `upstream request timeout`...) behave the same.
struct LocalReply {
    var status: HTTPResponseStatus
    var body: String
    /// Envoy's response flag for the access log and `x-envoy-*` consumers.
    var flag: String
    var extraHeaders: [(String, String)] = []

    static let noRoute = LocalReply(status: .notFound, body: "", flag: "NR")
    static let clusterNotFound = LocalReply(status: .serviceUnavailable, body: "", flag: "NC")
    static let noHealthyUpstream = LocalReply(status: .serviceUnavailable, body: "no healthy upstream", flag: "UH")
    static let timeout = LocalReply(status: .gatewayTimeout, body: "upstream request timeout", flag: "UT")
    static let overflow = LocalReply(status: .serviceUnavailable,
                                     body: "upstream connect error or disconnect/reset before headers. reset reason: overflow",
                                     flag: "UO", extraHeaders: [("x-envoy-overloaded", "true")])
    static let connectFailure = LocalReply(status: .serviceUnavailable,
                                           body: "upstream connect error or disconnect/reset before headers. reset reason: connection failure",
                                           flag: "UF")
    static let upstreamReset = LocalReply(status: .serviceUnavailable,
                                          body: "upstream connect error or disconnect/reset before headers. reset reason: connection termination",
                                          flag: "UC")

    // The downstream edge's own answers. Codec errors carry the status's reason phrase as body,
    // as Envoy's HTTP/1 codec does.
    static let badRequest = LocalReply(status: .badRequest, body: "Bad Request", flag: "DPE")
    static let headersTooLarge = LocalReply(status: .requestHeaderFieldsTooLarge, body: "Request Header Fields Too Large", flag: "DPE")
    static let streamIdleTimeout = LocalReply(status: .requestTimeout, body: "stream timeout", flag: "SI")
    static let requestHeadersTimeout = LocalReply(status: .requestTimeout, body: "request headers timeout", flag: "DPE")
    static let requestTimeout = LocalReply(status: .requestTimeout, body: "request timeout", flag: "DT")

    static func faultAbort(_ status: Int) -> LocalReply {
        LocalReply(status: HTTPResponseStatus(statusCode: status), body: "fault filter abort", flag: "FI")
    }
}
