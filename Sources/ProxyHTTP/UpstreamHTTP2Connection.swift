// One HTTP/2 connection to an upstream host: the multiplexer that opens a stream per request.

import NIOCore
import NIOHTTP2
import ProxyUpstream

/// Sits after NIO's HTTP/2 handler on an upstream connection. Each request gets a stream from
/// `multiplexer` (an `UpstreamHTTPConnection` in stream mode); connection-level frames pass
/// here, where a GOAWAY tells the worker to stop opening streams on this connection.
final class UpstreamHTTP2Connection: ChannelInboundHandler {
    typealias InboundIn = HTTP2Frame

    let channel: Channel
    let multiplexer: NIOHTTP2Handler.StreamMultiplexer
    let host: UpstreamHost
    let cluster: UpstreamCluster
    var onGoAway: (() -> Void)?

    init(channel: Channel, multiplexer: NIOHTTP2Handler.StreamMultiplexer, host: UpstreamHost, cluster: UpstreamCluster) {
        self.channel = channel
        self.multiplexer = multiplexer
        self.host = host
        self.cluster = cluster
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .goAway = unwrapInboundIn(data).payload {
            onGoAway?()
            onGoAway = nil
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        // A connection-level protocol error: NIO has sent GOAWAY; the streams fail and may retry.
        context.close(promise: nil)
    }
}
