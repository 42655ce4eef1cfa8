// HTTP/2 from clients: the preface decides the protocol, and each stream is one exchange.

import NIOCore
import NIOHTTP1
import NIOHTTP2
import ProxyConfig
import ProxyCore

/// Chooses a connection's protocol from its first bytes (`codec_type: AUTO`): HTTP/2's
/// connection preface means h2c with prior knowledge (what gRPC clients send in plaintext);
/// anything else is HTTP/1.1. It installs the chosen codec behind itself, hands on the bytes it
/// held and leaves the pipeline, so it costs nothing after the first read.
final class HTTPProtocolSniffer: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    static let preface = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)
    private var held: ByteBuffer?
    /// A drain that came before the codec was chosen (a connection accepted just before its
    /// chain changed, or still in its TLS handshake). Dropped here, it would never reach the
    /// codec: the connection would serve on its old chain until the drain time closed it. The
    /// codec gets it once the first request is in: that request is answered (HTTP/1.1 with
    /// `connection: close` if it is still under way; HTTP/2 after a GOAWAY), then the connection
    /// ends.
    private var drained = false
    private let install: (_ http2: Bool, _ pipeline: ChannelPipeline.SynchronousOperations) throws -> Void

    init(install: @escaping (_ http2: Bool, _ pipeline: ChannelPipeline.SynchronousOperations) throws -> Void) {
        self.install = install
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = unwrapInboundIn(data)
        if var held = held {
            held.writeBuffer(&buffer)
            buffer = held
        }
        let prefix = buffer.readableBytesView.prefix(Self.preface.count)
        guard prefix.elementsEqual(Self.preface.prefix(prefix.count)) else { return choose(http2: false, buffer, context) }
        guard prefix.count == Self.preface.count else {
            held = buffer  // a preface so far: wait for the rest of it
            return
        }
        choose(http2: true, buffer, context)
    }

    private func choose(http2: Bool, _ buffer: ByteBuffer, _ context: ChannelHandlerContext) {
        held = nil
        let pipeline = context.pipeline
        FirstBytes.install(buffer, from: context) { try install(http2, $0) }
        if drained { pipeline.fireUserInboundEventTriggered(ConnectionDrain()) }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard event is ConnectionDrain else { return context.fireUserInboundEventTriggered(event) }
        drained = true
    }

    func channelInactive(context: ChannelHandlerContext) {
        held = nil
        context.fireChannelInactive()
    }
}

enum DownstreamHTTP2 {
    /// NIO's HTTP/2 server codec with a child channel per stream, each translating frames into
    /// HTTP/1 parts for a `DownstreamHTTP2Stream`; the streams' flushes of one loop turn are one.
    static func configure(_ pipeline: ChannelPipeline.SynchronousOperations, http: HTTPWorker,
                          manager: HTTPConnectionManagerConfig, connection: DownstreamConnectionInfo) throws {
        let drain = HTTP2ConnectionDrain(sendsGoAway: true)
        try pipeline.addHandler(FlushCoalescer())
        _ = try pipeline.configureHTTP2Pipeline(mode: .server,
                                                connectionConfiguration: HTTP2Codec.connection(maxHeaderListSize: manager.downstream.maxRequestHeadersBytes),
                                                streamConfiguration: HTTP2Codec.stream(), streamDelegate: drain) { stream in
            stream.eventLoop.makeCompletedFuture {
                try stream.pipeline.syncOperations.addHandler(HTTP2FramePayloadToHTTP1ServerCodec())
                try stream.pipeline.syncOperations.addHandler(DownstreamHTTP2Stream(http: http, manager: manager, connection: connection))
            }
        }
        try pipeline.addHandler(drain)
    }
}

/// Drains an HTTP/2 connection on `ConnectionDrain`: it closes once the streams in flight have
/// finished. A client connection (its listener or filter chain changed) first gets GOAWAY naming
/// the last stream it opened, so later streams are refused and the client retries them
/// elsewhere; an upstream connection made under TLS settings that changed just stops being used.
/// It learns of streams as the HTTP/2 handler's stream delegate (the inline multiplexer sends
/// no stream events down the pipeline).
final class HTTP2ConnectionDrain: ChannelInboundHandler, NIOHTTP2StreamDelegate, @unchecked Sendable {
    typealias InboundIn = HTTP2Frame
    typealias OutboundOut = HTTP2Frame

    private let sendsGoAway: Bool
    private var context: ChannelHandlerContext?
    private var openStreams = Set<HTTP2StreamID>()
    private var lastStreamID = HTTP2StreamID(0)
    private var draining = false

    init(sendsGoAway: Bool) {
        self.sendsGoAway = sendsGoAway
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    // Called on the connection's loop by NIO's HTTP/2 handler.
    func streamCreated(_ id: HTTP2StreamID, channel: Channel) {
        openStreams.insert(id)
        lastStreamID = max(lastStreamID, id)
    }

    func streamClosed(_ id: HTTP2StreamID, channel: Channel) {
        openStreams.remove(id)
        if draining, openStreams.isEmpty, let context { closeAfterQueuedWrites(context) }
    }

    /// The last stream closes when its final frame is queued, not yet sent: closing then would
    /// cut the answer off. So on the next turn of the loop a PING follows what is queued, and
    /// the connection closes when that write completes (writes complete in order).
    private func closeAfterQueuedWrites(_ context: ChannelHandlerContext) {
        context.eventLoop.assumeIsolated().execute { [self] in
            let written = context.eventLoop.makePromise(of: Void.self)
            written.futureResult.assumeIsolated().whenComplete { _ in context.close(promise: nil) }
            let ping = HTTP2Frame(streamID: .rootStream, payload: .ping(HTTP2PingData(withInteger: 0), ack: false))
            context.writeAndFlush(wrapOutboundOut(ping), promise: written)
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard event is ConnectionDrain else { return context.fireUserInboundEventTriggered(event) }
        guard !draining else { return }
        draining = true
        if sendsGoAway {
            let goAway = HTTP2Frame(streamID: .rootStream, payload: .goAway(lastStreamID: lastStreamID, errorCode: .noError, opaqueData: nil))
            context.writeAndFlush(wrapOutboundOut(goAway), promise: nil)
        }
        if openStreams.isEmpty { closeAfterQueuedWrites(context) }
    }
}

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
}

/// One HTTP/2 stream from a client, carrying one request. The stream is the exchange's
/// downstream: the response goes out on it, and resetting it is how an exchange that cannot
/// finish tells the client.
final class DownstreamHTTP2Stream: ChannelInboundHandler, ExchangeDownstream {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let http: HTTPWorker
    private let manager: HTTPConnectionManagerConfig
    private var context: ChannelHandlerContext?
    private var exchange: HTTPExchange?
    private var responded = false
    private(set) var remoteIP: String?
    let closeAfterResponse = false

    /// The stream's connection, shared by all its streams.
    let connectionInfo: DownstreamConnectionInfo
    var security: ConnectionSecurity? { connectionInfo.security }
    var originalDestination: SocketAddress? { connectionInfo.originalDestination }

    init(http: HTTPWorker, manager: HTTPConnectionManagerConfig, connection: DownstreamConnectionInfo) {
        self.http = http
        self.manager = manager
        self.connectionInfo = connection
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        remoteIP = context.channel.parent?.remoteAddress?.ipAddress
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(var head):
            guard exchange == nil, !responded else { return }
            http.worker.stats.http2Streams += 1
            // Upgrades do not exist in HTTP/2 (extended CONNECT is not offered in our settings).
            HTTP2Codec.removeConnectionSpecific(&head.headers)
            // Answered here with an informational HEADERS (:status 100), as on HTTP/1.1 and as
            // Envoy does without proxy_100_continue; not forwarded, so no upstream sends its own.
            if HeaderPolicy.takeExpectContinue(&head.headers) {
                context.writeAndFlush(wrapOutboundOut(.head(HTTPResponseHead(version: .http2, status: .continue))), promise: nil)
            }
            let exchange = HTTPExchange(downstream: self, http: http, manager: manager, head: head)
            self.exchange = exchange
            exchange.start()
        case .body(let buffer):
            exchange?.requestBody(buffer)
        case .end(let trailers):
            exchange?.requestEnd(trailers)
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        exchange?.downstreamReadComplete()
        context.flush()
    }

    func channelInactive(context: ChannelHandlerContext) {
        let exchange = self.exchange
        self.exchange = nil
        if !responded { exchange?.downstreamClosed() }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        // A stream error (malformed headers, a reset by the client): this stream ends here.
        context.close(promise: nil)
    }

    // MARK: - ExchangeDownstream

    func writeHead(_ head: HTTPResponseHead) {
        var head = head
        HTTP2Codec.removeConnectionSpecific(&head.headers)
        context?.write(wrapOutboundOut(.head(head)), promise: nil)
    }

    func writeBody(_ buffer: ByteBuffer) {
        context?.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
    }

    func flush() {
        context?.flush()
    }

    func writeEnd(_ trailers: HTTPHeaders?) {
        responded = true
        exchange = nil
        context?.writeAndFlush(wrapOutboundOut(.end(trailers)), promise: nil)
    }

    func writeLocal(_ head: HTTPResponseHead, body: ByteBuffer?, request: HTTPRequestHead, requestComplete: Bool) {
        // A stream can be answered before its request ends: the rest of it is read and dropped.
        // A gRPC status the proxy makes (a fault abort) goes in trailers: gRPC clients read the
        // status only from the stream's last HEADERS frame.
        var head = head
        var trailers: HTTPHeaders?
        if body == nil, let status = head.headers.first(name: "grpc-status") {
            var grpc: HTTPHeaders = ["grpc-status": status]
            if let message = head.headers.first(name: "grpc-message") { grpc.add(name: "grpc-message", value: message) }
            head.headers.remove(name: "grpc-status")
            head.headers.remove(name: "grpc-message")
            head.headers.remove(name: "content-length")
            trailers = grpc
        }
        writeHead(head)
        if let body, request.method != .HEAD { writeBody(body) }
        writeEnd(trailers)
    }

    func abortResponse() {
        responded = true
        exchange = nil
        context?.close(promise: nil)  // RST_STREAM
    }

    func closeAfterUpgradeDeclined() {}

    func becomeTunnel(_ response: HTTPResponseHead, upstream: UpstreamHTTPConnection, idleTimeout: Duration?) {
        // Not reached: HTTP/2 streams never carry an upgrade (the exchange has none to forward).
        abortResponse()
        upstream.channel.close(promise: nil)
    }
}
