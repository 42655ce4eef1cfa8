// What one request (or one TCP connection) leaves behind for access logs and metrics: Envoy's stream info.

import NIOHTTP1

/// Filled by the proxy while a request (or TCP connection) lives, on its event loop, and read once
/// at its end by each access log. Unknown values stay nil and print as `-` (text) or `null` (JSON),
/// as in Envoy.
public struct AccessLogRecord: Sendable {
    /// Wall-clock start, microseconds since the Unix epoch (`%START_TIME%`).
    public var startTime: Int64
    /// From the start to the last byte sent downstream, nanoseconds (`%DURATION%`).
    public var duration: Int64?
    /// From the start to the last request byte received (`%REQUEST_DURATION%`).
    public var requestDuration: Int64?
    /// From the start to the first response byte from upstream (`%RESPONSE_DURATION%`).
    public var responseDuration: Int64?

    /// `HTTP/1.1`, `HTTP/2`, `HTTP/1.0`; nil for TCP.
    public var protocolName: String?
    public var method: String?
    /// The request target as received (`:path`, with the query).
    public var path: String?
    /// The request's headers as received (`host` is the authority).
    public var requestHeaders: HTTPHeaders?
    /// The response's headers as sent downstream.
    public var responseHeaders: HTTPHeaders?
    public var responseTrailers: HTTPHeaders?

    /// 0 when no response was sent (Envoy prints 0 too).
    public var responseCode = 0
    public var responseFlags = ResponseFlags()
    public var responseCodeDetails: String?
    public var connectionTerminationDetails: String?
    public var upstreamTransportFailureReason: String?

    /// Body bytes from downstream (HTTP), or all bytes from downstream (TCP).
    public var bytesReceived = 0
    /// Body bytes to downstream (HTTP), or all bytes to downstream (TCP).
    public var bytesSent = 0

    /// `ip:port` of the upstream host of the last attempt.
    public var upstreamHost: String?
    public var upstreamCluster: String?
    public var upstreamLocalAddress: String?
    public var upstreamAttempts = 0

    public var downstreamLocalAddress: String?
    public var downstreamRemoteAddress: String?
    public var requestedServerName: String?
    public var downstreamPeerURISAN: String?
    public var downstreamLocalURISAN: String?
    public var downstreamTLSVersion: String?
    /// Envoy's `%CONNECTION_ID%`; 0 when not known.
    public var connectionID: UInt64 = 0
    public var routeName: String?

    public init(startTime: Int64) {
        self.startTime = startTime
    }

    /// The gRPC status of a gRPC response: trailers first, then headers (trailers-only answers).
    public var grpcStatus: Int? {
        if let value = responseTrailers?.first(name: "grpc-status") ?? responseHeaders?.first(name: "grpc-status") { return Int(value) }
        return nil
    }
}
