// HTTP/2 from clients, served from the connection's frames: each stream is one exchange.

import NIOCore
import NIOHPACK
import NIOHTTP1
import NIOHTTP2
import ProxyConfig
import ProxyCore

enum DownstreamHTTP2 {
    /// NIO's HTTP/2 handler without a stream multiplexer, so its frames come down the pipeline to
    /// one `DownstreamHTTP2Connection`; the streams' flushes of one loop turn are one.
    static func configure(_ pipeline: ChannelPipeline.SynchronousOperations, http: HTTPWorker,
                          manager: HTTPConnectionManagerConfig, connection: DownstreamConnectionInfo) throws {
        try pipeline.addHandler(FlushCoalescer())
        try pipeline.addHandler(NIOHTTP2Handler(mode: .server,
                                                connectionConfiguration: HTTP2Codec.connection(maxHeaderListSize: manager.downstream.maxRequestHeadersBytes),
                                                streamConfiguration: HTTP2Codec.stream()))
        try pipeline.addHandler(DownstreamHTTP2Connection(http: http, manager: manager, connection: connection))
    }
}

/// An HTTP/2 connection from a client. NIO's HTTP/2 handler in front of it does the protocol:
/// framing, HPACK, stream states, flow-control accounting, header validity (pseudo-headers,
/// connection-specific fields, CR/LF/NUL in values), and the DoS limits. This handler keeps a
/// `DownstreamHTTP2Stream` per open stream and turns its frames into the exchange's calls.
///
/// Why not NIO's child channel per stream with its HTTP/2-to-HTTP/1 codec: that path put a
/// channel, a pipeline and two handlers in front of every request, and a profile of an h2load
/// run had retain/release at 41% of samples there (HTTP/2 was 0.53× Envoy's throughput). Here a
/// frame takes one pipeline hop and a dictionary lookup.
///
/// Flow control is this handler's job without a multiplexer: the client's DATA is given back
/// (WINDOW_UPDATE) once half of a stream's or the connection's window is used, as NIO's child
/// channels did; request bodies stream upstream as they come, as before. The connection's
/// window follows NIO's own count of it (its window events), because DATA on a stream this
/// side has reset is dropped inside NIO's handler and never reaches this one, yet still used
/// the window: counted here, an upload answered early and reset would shrink the connection's
/// window for good.
final class DownstreamHTTP2Connection: ChannelInboundHandler {
    typealias InboundIn = HTTP2Frame
    typealias OutboundOut = HTTP2Frame

    private let http: HTTPWorker
    private let manager: HTTPConnectionManagerConfig
    let connectionInfo: DownstreamConnectionInfo
    private(set) var remoteIP: String?
    private var context: ChannelHandlerContext?
    private var streams: [HTTP2StreamID: DownstreamHTTP2Stream] = [:]
    /// Streams that got frames in this read, told of its end (their upstream writes flush then).
    private var readStreams: [DownstreamHTTP2Stream] = []
    private var connectionWindowOpened = false
    private var lastStreamID = HTTP2StreamID(0)
    private var draining = false

    init(http: HTTPWorker, manager: HTTPConnectionManagerConfig, connection: DownstreamConnectionInfo) {
        self.http = http
        self.manager = manager
        self.connectionInfo = connection
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        remoteIP = context.channel.remoteAddress?.ipAddress
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        closeStreams()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        if !connectionWindowOpened { openConnectionWindow() }
        switch frame.payload {
        case .headers(let headers):
            if let stream = streams[frame.streamID] {
                // NIO's state machine admits a second HEADERS only as trailers (END_STREAM set).
                stream.receivedTrailers(headers.headers)
                noteRead(stream)
            } else {
                openStream(frame.streamID, headers: headers, context: context)
            }
        case .data(let data):
            let length = data.data.readableBytes + (data.paddingBytes ?? 0)
            guard let stream = streams[frame.streamID] else { return }
            if !data.endStream, let increment = stream.window.consume(length) { windowUpdate(frame.streamID, increment) }
            guard case .byteBuffer(let buffer) = data.data else { return }
            stream.receivedData(buffer, endStream: data.endStream)
            noteRead(stream)
        default:
            // RST_STREAM ends its stream through the StreamClosedEvent that follows; SETTINGS,
            // PING, WINDOW_UPDATE and GOAWAY are the HTTP/2 handler's.
            break
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        for stream in readStreams {
            stream.inRead = false
            stream.exchange?.downstreamReadComplete()
        }
        readStreams.removeAll(keepingCapacity: true)
        context.flush()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let closed = event as? StreamClosedEvent {
            // Both ends done, a reset either way, or a stream error NIO answered with RST_STREAM.
            guard let stream = streams.removeValue(forKey: closed.streamID) else { return }
            stream.closed()
            if draining, streams.isEmpty { HTTP2Codec.closeAfterQueuedWrites(context) }
        } else if let window = event as? NIOHTTP2WindowUpdatedEvent {
            if window.streamID == .rootStream, connectionWindowOpened, let left = window.inboundWindowSize,
               left <= HTTP2Codec.window / 2 {
                windowUpdate(.rootStream, HTTP2Codec.window - left)
                context.flush()
            }
        } else if event is ConnectionDrain {
            drain(context)
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        closeStreams()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        // A stream error has been answered with RST_STREAM by the HTTP/2 handler, and its
        // StreamClosedEvent ends the stream; a connection error closes the connection there too.
        if error is NIOHTTP2Errors.StreamError { return }
        context.close(promise: nil)
    }

    // MARK: - Streams

    private func openStream(_ id: HTTP2StreamID, headers: HTTP2Frame.FramePayload.Headers, context: ChannelHandlerContext) {
        lastStreamID = max(lastStreamID, id)
        guard var head = Self.requestHead(headers.headers, endStream: headers.endStream) else {
            // Malformed (RFC 9113 §8.1.1): no :authority nor host, or a CONNECT, which our
            // settings do not offer.
            write(HTTP2Frame(streamID: id, payload: .rstStream(.protocolError)))
            context.flush()
            return
        }
        http.worker.stats.http2Streams += 1
        let stream = DownstreamHTTP2Stream(id: id, connection: self)
        streams[id] = stream
        // Answered here with an informational HEADERS (:status 100), as on HTTP/1.1 and as Envoy
        // does without proxy_100_continue; not forwarded, so no upstream sends its own.
        if HeaderPolicy.takeExpectContinue(&head.headers) {
            write(HTTP2Frame(streamID: id, payload: .headers(.init(headers: [":status": "100"]))))
            context.flush()
        }
        let exchange = HTTPExchange(downstream: stream, http: http, manager: manager, head: head, keepsDownstream: true)
        stream.exchange = exchange
        stream.requestEnded = headers.endStream  // before the exchange starts: it may answer at once
        exchange.start()
        if headers.endStream {
            stream.receivedData(nil, endStream: true)
        } else {
            noteRead(stream)
        }
    }

    /// The request as the exchange takes it. The HTTP/2 handler has already refused blocks with
    /// missing, repeated or misplaced pseudo-headers and connection-specific fields.
    static func requestHead(_ block: HPACKHeaders, endStream: Bool) -> HTTPRequestHead? {
        var method: String?
        var path: String?
        var authority: String?
        var hasHost = false
        var hasContentLength = false
        var cookieIndex: Int?
        var fields: [(String, String)] = []
        fields.reserveCapacity(block.count)
        for (name, value, _) in block {
            let bytes = name.utf8
            if bytes.first == UInt8(ascii: ":") {
                switch name {
                case ":method": method = value
                case ":path": path = value
                case ":authority": authority = value
                default: break  // :scheme
                }
                continue
            }
            switch bytes.count {
            case 4 where name == "host": hasHost = true
            case 6 where name == "cookie":
                // Cookie crumbs are one field again for HTTP/1.1 (RFC 9113 §8.2.3).
                if let first = cookieIndex {
                    fields[first].1 += "; " + value
                    continue
                }
                cookieIndex = fields.count
            case 14 where name == "content-length": hasContentLength = true
            default: break
            }
            fields.append((name, value))
        }
        guard let method, let path, method != "CONNECT" else { return nil }
        if !hasHost {
            guard let authority else { return nil }
            fields.insert(("host", authority), at: 0)
        }
        let httpMethod = HTTPMethod(rawValue: method)
        // A body-less request of a method that normally has one says so, as HTTP/1.1 would.
        if endStream, !hasContentLength {
            switch httpMethod {
            case .GET, .HEAD, .DELETE, .TRACE: break
            default: fields.append(("content-length", "0"))
            }
        }
        return HTTPRequestHead(version: .http2, method: httpMethod, uri: path, headers: HTTPHeaders(fields))
    }

    private func noteRead(_ stream: DownstreamHTTP2Stream) {
        guard !stream.inRead else { return }
        stream.inRead = true
        readStreams.append(stream)
    }

    private func closeStreams() {
        let open = streams.values
        streams = [:]
        readStreams = []
        for stream in open { stream.closed() }
    }

    // MARK: - Flow control and drain

    /// The connection's window starts at 65,535 bytes whatever SETTINGS say (RFC 9113 §6.9.2);
    /// it is raised to the stream window once the client has spoken, so one upload does not
    /// stall the others.
    private func openConnectionWindow() {
        connectionWindowOpened = true
        windowUpdate(.rootStream, HTTP2Codec.window - 65_535)
    }

    private func windowUpdate(_ id: HTTP2StreamID, _ increment: Int) {
        write(HTTP2Frame(streamID: id, payload: .windowUpdate(windowSizeIncrement: increment)))
    }

    /// GOAWAY naming the last stream the client opened, so later streams are refused and the
    /// client retries them elsewhere; the connection closes once the streams in flight are done.
    private func drain(_ context: ChannelHandlerContext) {
        guard !draining else { return }
        draining = true
        write(HTTP2Frame(streamID: .rootStream, payload: .goAway(lastStreamID: lastStreamID, errorCode: .noError, opaqueData: nil)))
        context.flush()
        if streams.isEmpty { HTTP2Codec.closeAfterQueuedWrites(context) }
    }

    fileprivate func write(_ frame: HTTP2Frame) {
        context?.write(wrapOutboundOut(frame), promise: nil)
    }

    fileprivate func flush() {
        context?.flush()
    }
}

/// Counts the DATA bytes a window has taken and says when to give them back: at half the
/// window, as NIO's own streams do, so a steady upload never waits for an update.
struct ReceiveWindow {
    private var consumed = 0

    /// The WINDOW_UPDATE increment to send now, if any.
    mutating func consume(_ bytes: Int) -> Int? {
        consumed += bytes
        guard consumed >= HTTP2Codec.window / 2 else { return nil }
        defer { consumed = 0 }
        return consumed
    }
}

/// One HTTP/2 stream from a client, carrying one request: the exchange's downstream. Its
/// response frames go out through the connection. The last frame is held until the next write
/// or flush, so the response's end rides on it (END_STREAM on the last DATA or on HEADERS)
/// instead of an empty DATA frame of its own. A response complete before its request is (a
/// local answer, an upstream that answered early) is followed by RST_STREAM NO_ERROR, so the
/// client stops sending a body nobody reads (RFC 9113 §8.1), as Envoy does.
///
/// Ownership: the connection holds its open streams, and an exchange holds its stream (it may
/// still read the stream's connection facts after the stream closed on the wire, when it logs).
/// The stream holds its exchange until the response ends or the stream closes, and its
/// connection until it is released: both cycles end when the stream does.
final class DownstreamHTTP2Stream: ExchangeDownstream {
    let id: HTTP2StreamID
    private let connection: DownstreamHTTP2Connection
    fileprivate var exchange: HTTPExchange?
    fileprivate var window = ReceiveWindow()
    fileprivate var inRead = false
    private var held: HTTP2Frame.FramePayload?
    private var responded = false
    /// The client's END_STREAM has come (with its last DATA, its HEADERS or trailers).
    fileprivate var requestEnded = false
    private var isClosed = false
    let closeAfterResponse = false

    var remoteIP: String? { connection.remoteIP }
    var connectionInfo: DownstreamConnectionInfo { connection.connectionInfo }
    var security: ConnectionSecurity? { connection.connectionInfo.security }
    var originalDestination: SocketAddress? { connection.connectionInfo.originalDestination }

    fileprivate init(id: HTTP2StreamID, connection: DownstreamHTTP2Connection) {
        self.id = id
        self.connection = connection
    }

    fileprivate func receivedData(_ buffer: ByteBuffer?, endStream: Bool) {
        if endStream { requestEnded = true }
        guard let exchange else { return }  // answered already: the rest is read and dropped
        if let buffer, buffer.readableBytes > 0 { exchange.requestBody(buffer) }
        if endStream { exchange.requestEnd(nil) }
    }

    fileprivate func receivedTrailers(_ block: HPACKHeaders) {
        requestEnded = true
        var trailers = HTTPHeaders()
        for (name, value, _) in block where name.utf8.first != UInt8(ascii: ":") { trailers.add(name: name, value: value) }
        exchange?.requestEnd(trailers)
    }

    /// The stream is over on the wire (both ends, a reset, or the connection went away). An
    /// exchange that has not answered yet learns that its client is gone.
    fileprivate func closed() {
        isClosed = true
        held = nil
        let exchange = self.exchange
        self.exchange = nil
        if !responded { exchange?.downstreamClosed() }
    }

    private func send(_ payload: HTTP2Frame.FramePayload) {
        guard !isClosed else { return }
        if let held { connection.write(HTTP2Frame(streamID: id, payload: held)) }
        held = payload
    }

    private func sendHeld() {
        guard let held else { return }
        self.held = nil
        connection.write(HTTP2Frame(streamID: id, payload: held))
    }

    // MARK: - ExchangeDownstream

    func writeHead(_ head: HTTPResponseHead) {
        send(.headers(.init(headers: Self.block(status: head.status.code, head.headers))))
    }

    func writeBody(_ buffer: ByteBuffer) {
        send(.data(.init(data: .byteBuffer(buffer))))
    }

    func flush() {
        sendHeld()
        connection.flush()
    }

    func writeEnd(_ trailers: HTTPHeaders?) {
        responded = true
        exchange = nil
        guard !isClosed else { return }
        if let trailers, !trailers.isEmpty {
            send(.headers(.init(headers: Self.block(status: nil, trailers), endStream: true)))
        } else {
            switch held {
            case .headers(var headers)?:
                headers.endStream = true
                held = .headers(headers)
            case .data(var data)?:
                data.endStream = true
                held = .data(data)
            default:
                send(.data(.init(data: .byteBuffer(ByteBuffer()), endStream: true)))
            }
        }
        flush()
        if !requestEnded, !isClosed {
            connection.write(HTTP2Frame(streamID: id, payload: .rstStream(.noError)))
            connection.flush()
        }
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
        guard !isClosed else { return }
        held = nil
        connection.write(HTTP2Frame(streamID: id, payload: .rstStream(.cancel)))
        connection.flush()
    }

    func closeAfterUpgradeDeclined() {}

    func becomeTunnel(_ response: HTTPResponseHead, upstream: UpstreamHTTPConnection, idleTimeout: Duration?) {
        // Not reached: HTTP/2 streams never carry an upgrade (the exchange has none to forward).
        abortResponse()
        upstream.channel.close(promise: nil)
    }

    /// A response head or trailers as an HTTP/2 header block: names in lower case (RFC 9113
    /// §8.2.1), without the fields HTTP/2 forbids (the exchange already took the hop-by-hop
    /// ones off; `transfer-encoding` is HTTP/1.1 framing, which frames replace).
    static func block(status: UInt?, _ headers: HTTPHeaders) -> HPACKHeaders {
        var block = HPACKHeaders()
        block.reserveCapacity(headers.count + 1)
        if let status { block.add(name: ":status", value: String(status)) }
        for (name, value) in headers {
            switch name.utf8.count {
            case 17 where ASCII.equalsIgnoringCase(name, "transfer-encoding"),
                 10 where ASCII.equalsIgnoringCase(name, "connection") || ASCII.equalsIgnoringCase(name, "keep-alive"),
                 16 where ASCII.equalsIgnoringCase(name, "proxy-connection"),
                 7 where ASCII.equalsIgnoringCase(name, "upgrade"):
                continue
            default:
                block.add(name: name.utf8.contains(where: { $0 >= 0x41 && $0 <= 0x5A }) ? name.lowercased() : name, value: value)
            }
        }
        return block
    }
}
