// A client connection: request parts in, one exchange at a time, pipelined requests queued, responses out with one flush each.

import NIOCore
import NIOHTTP1
import ProxyConfig
import ProxyCore

/// The last handler of a downstream HTTP/1.1 connection. It keeps its own queue of pipelined
/// request parts instead of NIO's pipelining handler, which would toggle read interest on
/// every request (two epoll_ctl calls each). Responses are written without flushing and
/// flushed once per upstream read burst and at the end of each response.
final class DownstreamHTTPHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let http: HTTPWorker
    private let manager: HTTPConnectionManagerConfig
    private var context: ChannelHandlerContext!
    private var current: HTTPExchange?
    /// Parts of requests that arrived while the current response was still going out.
    private var queued = CircularBuffer<HTTPServerRequestPart>()
    private(set) var closeAfterResponse = false
    private var closing = false
    private(set) var remoteIP: String?
    /// A local answer made before the request's body had all arrived: it goes out at the
    /// request's end, so the connection stays usable (or at once, closing, if the body is large).
    private var pendingLocal: (head: HTTPResponseHead, body: ByteBuffer?, request: HTTPRequestHead)?
    private var discardedBytes = 0
    static let discardLimit = 64 * 1024

    init(http: HTTPWorker, manager: HTTPConnectionManagerConfig) {
        self.http = http
        self.manager = manager
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        remoteIP = context.channel.remoteAddress?.ipAddress
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        if let current, current.requestComplete || !queued.isEmpty {
            queued.append(part)  // a pipelined request: its turn comes after this response
            return
        }
        handle(part)
    }

    private func handle(_ part: HTTPServerRequestPart) {
        switch part {
        case .head(let head):
            guard !closing else { return }
            if !head.isKeepAlive { closeAfterResponse = true }
            let exchange = HTTPExchange(downstream: self, http: http, manager: manager, head: head)
            current = exchange
            exchange.start()
        case .body(let buffer):
            if let pending = pendingLocal {
                discardedBytes += buffer.readableBytes
                if discardedBytes > Self.discardLimit {
                    pendingLocal = nil
                    writeLocal(pending.head, body: pending.body, request: pending.request, requestComplete: false, deferIfIncomplete: false)
                }
                return
            }
            current?.requestBody(buffer)
        case .end(let trailers):
            if let pending = pendingLocal {
                pendingLocal = nil
                writeLocal(pending.head, body: pending.body, request: pending.request, requestComplete: true)
                return
            }
            current?.requestEnd(trailers)
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        current?.downstreamReadComplete()
        context.flush()
    }

    func channelInactive(context: ChannelHandlerContext) {
        pendingLocal = nil
        let exchange = current
        current = nil
        queued.removeAll()
        exchange?.downstreamClosed()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        // Decoding errors were answered with 400 by the protocol error handler before this.
        context.close(promise: nil)
    }

    // MARK: - Response path (called by the exchange)

    func writeHead(_ head: HTTPResponseHead) {
        context.write(wrapOutboundOut(.head(head)), promise: nil)
    }

    func writeBody(_ buffer: ByteBuffer) {
        context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
    }

    func flush() {
        context.flush()
    }

    func writeEnd(_ trailers: HTTPHeaders?) {
        context.writeAndFlush(wrapOutboundOut(.end(trailers)), promise: nil)
        exchangeDone()
    }

    /// A whole local answer. It waits for the rest of the request (read and dropped, up to
    /// `discardLimit`); past that the answer goes out and the connection closes, since the rest
    /// of the body could not be told apart from a next request.
    func writeLocal(_ head: HTTPResponseHead, body: ByteBuffer?, request: HTTPRequestHead, requestComplete: Bool,
                    deferIfIncomplete: Bool = true) {
        if !requestComplete, deferIfIncomplete {
            pendingLocal = (head, body, request)
            discardedBytes = 0
            return
        }
        var head = head
        if !requestComplete || closeAfterResponse {
            closeAfterResponse = true
            head.headers.replaceOrAdd(name: "connection", value: "close")
        }
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        if let body, request.method != .HEAD { context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil) }
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        exchangeDone()
    }

    /// The response cannot be completed (upstream reset or timeout after headers): close.
    func abortResponse() {
        current = nil
        closing = true
        context.close(promise: nil)
    }

    private func exchangeDone() {
        current = nil
        if closeAfterResponse {
            closing = true
            context.close(promise: nil)
            return
        }
        // Serve what was pipelined meanwhile, until a request is again in flight.
        while current == nil || current?.requestComplete == false, let part = queued.popFirst() {
            handle(part)
            if closing { return }
        }
    }
}
