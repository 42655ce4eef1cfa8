// HTTP/2 settings both sides of the proxy use, and the drain of an upstream HTTP/2 connection.

import NIOCore
import NIOHTTP1
import NIOHTTP2
import ProxyCore

/// Settings both sides of the proxy use for HTTP/2.
enum HTTP2Codec {
    /// Flow-control windows of 1 MiB (NIO's default of 64 KiB halves a stream's throughput on a
    /// path with any latency; Envoy's is 256 MiB).
    static let window = 1 << 20

    /// `maxHeaderListSize`: the request head limit (`max_request_headers_kb`) as HTTP/2 states it.
    static func connection(maxHeaderListSize: Int = 60 * 1024) -> NIOHTTP2Handler.ConnectionConfiguration {
        var configuration = NIOHTTP2Handler.ConnectionConfiguration()
        configuration.initialSettings = [
            HTTP2Setting(parameter: .maxConcurrentStreams, value: 2_147_483_647),
            HTTP2Setting(parameter: .initialWindowSize, value: window),
            HTTP2Setting(parameter: .maxHeaderListSize, value: maxHeaderListSize),
        ]
        configuration.targetWindowSize = window
        return configuration
    }

    static func stream() -> NIOHTTP2Handler.StreamConfiguration {
        var configuration = NIOHTTP2Handler.StreamConfiguration()
        configuration.targetWindowSize = window
        return configuration
    }

    /// HTTP/2 forbids connection-specific fields (RFC 9113 §8.2.2); HTTP/1.1 framing travels in
    /// frames instead of `transfer-encoding`. `te: trailers` is the one TE value allowed.
    static func removeConnectionSpecific(_ headers: inout HTTPHeaders) {
        HeaderPolicy.removeHopByHop(&headers)
        headers.remove(name: "transfer-encoding")
    }

    /// Closes an HTTP/2 connection once what is queued on it has been written. The last stream
    /// closes when its final frame is queued, not yet sent: closing then would cut the answer
    /// off. So on the next turn of the loop a PING follows what is queued, and the connection
    /// closes when that write completes (writes complete in order).
    static func closeAfterQueuedWrites(_ context: ChannelHandlerContext) {
        context.eventLoop.assumeIsolated().execute {
            let written = context.eventLoop.makePromise(of: Void.self)
            written.futureResult.assumeIsolated().whenComplete { _ in context.close(promise: nil) }
            let ping = HTTP2Frame(streamID: .rootStream, payload: .ping(HTTP2PingData(withInteger: 0), ack: false))
            context.writeAndFlush(NIOAny(ping), promise: written)
        }
    }
}

/// Drains an upstream HTTP/2 connection on `ConnectionDrain` (it was made under TLS settings
/// that changed): it stops being used and closes once the streams in flight have finished. It
/// learns of streams as the HTTP/2 handler's stream delegate (the inline multiplexer sends no
/// stream events down the pipeline).
final class HTTP2ConnectionDrain: ChannelInboundHandler, NIOHTTP2StreamDelegate, @unchecked Sendable {
    typealias InboundIn = HTTP2Frame
    typealias OutboundOut = HTTP2Frame

    private var context: ChannelHandlerContext?
    private var openStreams = Set<HTTP2StreamID>()
    private var draining = false

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    // Called on the connection's loop by NIO's HTTP/2 handler.
    func streamCreated(_ id: HTTP2StreamID, channel: Channel) {
        openStreams.insert(id)
    }

    func streamClosed(_ id: HTTP2StreamID, channel: Channel) {
        openStreams.remove(id)
        if draining, openStreams.isEmpty, let context { HTTP2Codec.closeAfterQueuedWrites(context) }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard event is ConnectionDrain else { return context.fireUserInboundEventTriggered(event) }
        guard !draining else { return }
        draining = true
        if openStreams.isEmpty { HTTP2Codec.closeAfterQueuedWrites(context) }
    }
}
