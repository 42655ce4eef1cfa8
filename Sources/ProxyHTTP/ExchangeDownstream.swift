// What an exchange needs from the client side: an HTTP/1.1 connection or one HTTP/2 stream.

import NIOCore
import NIOHTTP1
import ProxyCore

/// The downstream end of one exchange. HTTP/1.1 connections (`DownstreamHTTPHandler`) and
/// HTTP/2 streams (`DownstreamHTTP2Stream`) both present their messages as NIO's HTTP/1 parts,
/// so the router, retries and the upstream side are one code path for both protocols.
protocol ExchangeDownstream: AnyObject {
    /// The client's address (`x-forwarded-for` with `use_remote_address`, hashing by source IP).
    var remoteIP: String? { get }
    /// The TLS peer, when the client connected over TLS.
    var security: ConnectionSecurity? { get }
    /// Where an iptables-redirected connection was going (ORIGINAL_DST clusters connect there).
    var originalDestination: SocketAddress? { get }
    /// Addresses and TLS names for access logs (worked out on first use).
    var connectionInfo: DownstreamConnectionInfo { get }
    /// The connection closes after this response (HTTP/1.1 only).
    var closeAfterResponse: Bool { get }
    func writeHead(_ head: HTTPResponseHead)
    func writeBody(_ buffer: ByteBuffer)
    func flush()
    func writeEnd(_ trailers: HTTPHeaders?)
    /// A whole answer made by the proxy (local reply, redirect, direct response).
    func writeLocal(_ head: HTTPResponseHead, body: ByteBuffer?, request: HTTPRequestHead, requestComplete: Bool)
    /// The response cannot be completed after its head went out: the client must see an error.
    func abortResponse()
    func closeAfterUpgradeDeclined()
    func becomeTunnel(_ response: HTTPResponseHead, upstream: UpstreamHTTPConnection, idleTimeout: Duration?)
}
