// One HTTP/1.1 connection (or HTTP/2 stream) to an upstream host: hands the response to the exchange that owns it, then goes back to the pool.

import NIOCore
import NIOHTTP1
import ProxyUpstream

/// The last handler of an upstream connection's pipeline. While an exchange owns the
/// connection, response parts go to it; between requests the connection idles in its worker's
/// pool. It counts against the cluster's `max_connections` from connect to close.
final class UpstreamHTTPConnection: ChannelInboundHandler, RemovableChannelHandler, PooledConnection {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundOut = HTTPClientRequestPart

    let channel: Channel
    let host: UpstreamHost
    let cluster: UpstreamCluster
    unowned let http: HTTPWorker
    /// The exchange whose request this connection carries now.
    var exchange: HTTPExchange?
    /// A response whose parts are to be dropped (a retried or mirrored answer nobody reads).
    var discardingResponse = false
    private var responseComplete = true
    private var keepAlive = true
    private var requestsServed = 0
    private var closed = false
    /// This handler's place in the pipeline: writes start here rather than at the channel's tail
    /// (the same handlers run; the generic Channel.write entry point costs more per call).
    private var context: ChannelHandlerContext?

    /// An HTTP/2 stream rather than a connection: it carries one request, is never pooled, and
    /// its HTTP/2 connection (not the stream) counts against `max_connections`.
    let isStream: Bool

    init(channel: Channel, host: UpstreamHost, cluster: UpstreamCluster, http: HTTPWorker, isStream: Bool = false) {
        self.channel = channel
        self.host = host
        self.cluster = cluster
        self.http = http
        self.isStream = isStream
    }

    var isReusable: Bool {
        guard !isStream, keepAlive, responseComplete, !closed else { return false }
        if let limit = cluster.config.maxRequestsPerConnection, requestsServed >= limit { return false }
        return true
    }

    /// Writes a request head; the body follows through `write`.
    func send(_ head: HTTPRequestHead) {
        responseComplete = false
        requestsServed += 1
        if !head.isKeepAlive { keepAlive = false }
        if isStream {
            var head = head
            HTTP2Codec.removeConnectionSpecific(&head.headers)
            return write(.head(head), flush: false)
        }
        write(.head(head), flush: false)
    }

    func write(_ part: HTTPClientRequestPart, flush: Bool) {
        guard let context else { return }  // removed from the pipeline: the connection left HTTP
        if flush {
            context.writeAndFlush(wrapOutboundOut(part), promise: nil)
        } else {
            context.write(wrapOutboundOut(part), promise: nil)
        }
    }

    func flush() {
        context?.flush()
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        switch part {
        case .head(let head):
            // 1xx other than 101 (an accepted upgrade) are not forwarded.
            if head.status.code < 200, head.status != .switchingProtocols { return }
            if !head.isKeepAlive { keepAlive = false }
            if discardingResponse { return }
            exchange?.upstreamHead(head, from: self)
        case .body(let body):
            if discardingResponse { return }
            exchange?.upstreamBody(body)
        case .end(let trailers):
            responseComplete = true
            if discardingResponse {
                discardingResponse = false
                let owner = exchange
                exchange = nil
                owner?.discardedResponseEnded(self)
                if owner == nil { http.release(self) }
                return
            }
            exchange?.upstreamEnd(trailers, from: self)
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        exchange?.upstreamReadComplete()
    }

    func channelInactive(context: ChannelHandlerContext) {
        closed = true
        if isStream { http.streamClosed(self) } else { http.connectionClosed(self) }
        let owner = exchange
        exchange = nil
        if !responseComplete { owner?.upstreamReset(self) }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        // A malformed response or a reset: the connection is done; channelInactive tells the exchange.
        context.close(promise: nil)
    }

    /// After an accepted upgrade: this connection leaves HTTP. Its handlers come off the pipeline
    /// (the decoder last, handing on any bytes that followed the 101) and the byte pipe, already
    /// added after them by the caller, takes over. The pool forgets it when the pipe closes.
    /// Completes when the decoder has left, its held bytes handed on (NIO does that in a later
    /// loop task, outside any read burst, so the caller flushes then).
    func leaveHTTP() throws -> EventLoopFuture<Void> {
        let operations = channel.pipeline.syncOperations
        operations.removeHandler(self, promise: nil)
        operations.removeHandler(try operations.handler(type: HTTPRequestEncoder.self), promise: nil)
        let decoderGone = channel.eventLoop.makePromise(of: Void.self)
        operations.removeHandler(try operations.handler(type: ByteToMessageHandler<HTTPResponseDecoder>.self), promise: decoderGone)
        return decoderGone.futureResult
    }
}
