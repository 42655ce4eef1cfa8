// Calls from one Bookinfo service to another, through the workload's sidecar.

import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// Headers a service copies from the request it serves onto the calls it makes: the request ID,
/// B3 and W3C trace context (so the proxies' spans join one trace) and `end-user` (so routing
/// by user works on every hop), as Istio's Bookinfo does.
enum PropagatedHeaders {
    static let names = [
        "x-request-id", "traceparent", "tracestate",
        "x-b3-traceid", "x-b3-spanid", "x-b3-parentspanid", "x-b3-sampled", "x-b3-flags", "b3",
        "end-user", "user-agent",
    ]

    static func from(_ headers: HTTPHeaders) -> [(String, String)] {
        names.compactMap { name in headers.first(name: name).map { (name, $0) } }
    }
}

/// A service the app calls: reached at the sidecar's egress address, named by its `Host`, as an
/// app in the mesh calls `http://reviews:9080` and its sidecar routes it.
struct Upstream: Sendable {
    var service: String
    /// `host:port` where the workload's sidecar listens for outbound calls.
    var egress: String
    var port: Int

    /// From `BOOKINFO_EGRESS` (the sidecar's egress address, set by the mesh runner); without
    /// it, the service's own name (a plain network, no mesh).
    static func named(_ service: String, port: Int = 9080) -> Upstream {
        let egress = ProcessInfo.processInfo.environment["BOOKINFO_EGRESS"] ?? service
        return Upstream(service: service, egress: egress, port: port)
    }

    struct Answer: Sendable {
        var status: UInt
        var headers: HTTPHeaders
        var body: String
    }

    /// GET `path`; nil when the call fails or exceeds `timeout` (connection refused, reset, slow).
    func get(_ path: String, propagating: [(String, String)], timeout: TimeAmount) async -> Answer? {
        var request = HTTPClientRequest(url: "http://\(egress):\(port)\(path)")
        request.headers.add(name: "host", value: "\(service):\(port)")
        for (name, value) in propagating { request.headers.add(name: name, value: value) }
        do {
            let response = try await HTTPClient.shared.execute(request, timeout: timeout)
            let body = try await response.body.collect(upTo: 4 << 20)
            return Answer(status: response.status.code, headers: response.headers, body: String(buffer: body))
        } catch {
            return nil
        }
    }
}
