// A client connection: request parts in, one exchange at a time, pipelined requests queued, responses out with one flush each.

import NIOCore
import NIOHTTP1
import ProxyConfig
import ProxyCore
import Telemetry

/// The last handler of a downstream HTTP/1.1 connection. It keeps its own queue of pipelined
/// request parts instead of NIO's pipelining handler, which would toggle read interest on
/// every request (two epoll_ctl calls each). Responses are written without flushing and
/// flushed once per upstream read burst and at the end of each response.
///
/// It also enforces the connection manager's limits: malformed requests get 400 and oversize
/// heads 431, then the connection closes; a head or body that stops arriving gets 408 (slowloris);
/// an idle connection closes. Timers are armed only when a read leaves a request incomplete, and
/// the idle timer re-arms lazily from a timestamp, so a request that arrives whole costs no timer.
final class DownstreamHTTPHandler: ChannelInboundHandler, RemovableChannelHandler, ExchangeDownstream {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let http: HTTPWorker
    private let manager: HTTPConnectionManagerConfig
    /// Set while the handler is in the pipeline. Cleared when it leaves: the context holds the
    /// handler, so keeping it would keep the whole connection (pipeline, TLS state, buffers)
    /// alive after it closed, about 1 KB per connection ever taken.
    private var context: ChannelHandlerContext?
    /// The connection's loop, kept past removal for the clock.
    private var loop: EventLoop!
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

    private var limits: DownstreamLimits { manager.downstream }
    /// The loop's clock (virtual time in tests on an embedded loop).
    private var now: NIODeadline { loop.now }
    /// When the last request part arrived or the last response ended.
    private var lastProgress = NIODeadline.uptimeNanoseconds(0)
    /// When bytes of a head that is not complete yet were first seen.
    private var headStarted: NIODeadline?
    private var partsThisRead = false
    private var stallTimer: Scheduled<Void>?
    private var idleTimer: Scheduled<Void>?
    private var requestsStarted = 0
    private var responseInProgress = false

    let connectionInfo: DownstreamConnectionInfo
    var security: ConnectionSecurity? { connectionInfo.security }
    var originalDestination: SocketAddress? { connectionInfo.originalDestination }

    init(http: HTTPWorker, manager: HTTPConnectionManagerConfig, connection: DownstreamConnectionInfo) {
        self.http = http
        self.manager = manager
        self.connectionInfo = connection
    }

    /// NIO's HTTP/1.1 server codec with this connection manager's header limits. NIO's own
    /// protocol error handler is left out: this handler answers codec errors itself (400 or 431).
    /// So is its outbound header validator: response headers come from the upstream's parser or
    /// from config that ProxyConfig checked (`HeaderText`), and validating them again on every
    /// response cost more than any other handler on the write path.
    static func configure(_ pipeline: ChannelPipeline.SynchronousOperations, manager: HTTPConnectionManagerConfig) throws {
        var decoderLimits = NIOHTTPDecoderLimitConfiguration()
        decoderLimits.maxHeaderFieldSize = manager.downstream.maxRequestHeadersBytes
        decoderLimits.maxHeaderListSize = manager.downstream.maxRequestHeadersBytes
        decoderLimits.maxHeaderFieldCount = manager.downstream.maxHeadersCount
        try pipeline.configureHTTPServerPipeline(withPipeliningAssistance: false, withServerUpgrade: nil, withErrorHandling: false,
                                                 withOutboundHeaderValidation: false, withEncoderConfiguration: .init(),
                                                 withDecoderLimitConfiguration: decoderLimits)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        loop = context.eventLoop
        remoteIP = context.channel.remoteAddress?.ipAddress
        lastProgress = now
        if let idle = limits.idleTimeout { scheduleIdleCheck(at: now + TimeAmount(idle)) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        stallTimer?.cancel()
        idleTimer?.cancel()
        self.context = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        partsThisRead = true
        if let current, current.requestComplete || !queued.isEmpty {
            queued.append(part)  // a pipelined request: its turn comes after this response
            return
        }
        handle(part)
    }

    private func handle(_ part: HTTPServerRequestPart) {
        switch part {
        case .head(var head):
            guard !closing else { return }
            headStarted = nil
            lastProgress = now
            if !head.isKeepAlive { closeAfterResponse = true }
            requestsStarted += 1
            if let limit = limits.maxRequestsPerConnection, requestsStarted >= limit { closeAfterResponse = true }
            if !Self.originForm(&head, allowAbsolute: limits.allowAbsoluteURL) {
                return edgeReply(.badRequest)
            }
            var upgrade: String?
            switch Self.upgradeRequest(&head, allowed: manager.upgradeTypes) {
            case .none: break
            case .allowed(let value):
                upgrade = value
                // NIO's decoder stops at an upgrade request: whatever the answer, nothing more
                // on this connection is HTTP it will parse.
                closeAfterResponse = true
            case .refused:
                http.worker.stats.count(status: 403)
                return edgeReply(.upgradeRefused, request: head)
            }
            // The client waits for 100 Continue before sending its body: answer at once (HTTP/1.0
            // clients cannot take a 100, and HTTP/1.0 has no Expect).
            if HeaderPolicy.takeExpectContinue(&head.headers), head.version.minor >= 1 {
                context?.writeAndFlush(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .continue))), promise: nil)
            }
            let exchange = HTTPExchange(downstream: self, http: http, manager: manager, head: head, upgrade: upgrade)
            current = exchange
            exchange.start()
        case .body(let buffer):
            if limits.streamIdleTimeout != nil { lastProgress = now }
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
        // A read that produced no part left a head half-received; a request still in its body
        // must keep making progress. Either way the stall timer watches (once armed, it re-arms
        // itself while needed).
        if stallTimer == nil, !closing {
            if current == nil, queued.isEmpty, !partsThisRead {
                if headStarted == nil { headStarted = now }
                armStallTimer()
            } else if let current, !current.requestComplete {
                armStallTimer()
            }
        }
        partsThisRead = false
    }

    func channelInactive(context: ChannelHandlerContext) {
        pendingLocal = nil
        stallTimer?.cancel()
        idleTimer?.cancel()
        let exchange = current
        current = nil
        queued.removeAll()
        exchange?.downstreamClosed()
        context.fireChannelInactive()
    }

    /// The listener or filter chain this connection came through was changed or removed: the
    /// request under way (or one partly received) is answered with `connection: close` and the
    /// connection closes after it; an idle connection closes now, so a client keeping it alive
    /// cannot go on past a policy change (PERMISSIVE to STRICT).
    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard event is ConnectionDrain else { return context.fireUserInboundEventTriggered(event) }
        guard !closing else { return }
        closeAfterResponse = true
        if current == nil, pendingLocal == nil, queued.isEmpty, headStarted == nil {
            closing = true
            context.close(promise: nil)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        // A request the codec cannot parse: answer it if no response is under way (the rest of
        // the stream cannot be trusted, so the connection closes either way).
        if let parserError = error as? HTTPParserError, !responseInProgress, !closing {
            pendingLocal = nil
            let exchange = current
            current = nil
            queued.removeAll()
            exchange?.downstreamClosed()
            http.worker.stats.downstreamProtocolErrors += 1
            http.worker.stats.count(status: parserError == .headerOverflow ? 431 : 400)
            return edgeReply(parserError == .headerOverflow ? .headersTooLarge : .badRequest)
        }
        closing = true
        context.close(promise: nil)
    }

    // MARK: - Response path (called by the exchange)

    func writeHead(_ head: HTTPResponseHead) {
        responseInProgress = true
        context?.write(wrapOutboundOut(.head(head)), promise: nil)
    }

    func writeBody(_ buffer: ByteBuffer) {
        context?.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
    }

    func flush() {
        context?.flush()
    }

    func writeEnd(_ trailers: HTTPHeaders?) {
        responseInProgress = false
        context?.writeAndFlush(wrapOutboundOut(.end(trailers)), promise: closeWhenWritten())
        exchangeDone()
    }

    /// For the last response of a connection: a promise that closes the connection once the
    /// response's end has been written. Closing at once would drop what the socket had not yet
    /// taken (NIO fails pending writes on close), cutting a large answer short.
    private func closeWhenWritten() -> EventLoopPromise<Void>? {
        guard closeAfterResponse, let context else { return nil }
        let written = context.eventLoop.makePromise(of: Void.self)
        written.futureResult.assumeIsolated().whenComplete { _ in context.close(promise: nil) }
        return written
    }

    /// A whole local answer. It waits for the rest of the request (read and dropped, up to
    /// `discardLimit`); past that the answer goes out and the connection closes, since the rest
    /// of the body could not be told apart from a next request.
    func writeLocal(_ head: HTTPResponseHead, body: ByteBuffer?, request: HTTPRequestHead, requestComplete: Bool) {
        writeLocal(head, body: body, request: request, requestComplete: requestComplete, deferIfIncomplete: true)
    }

    private func writeLocal(_ head: HTTPResponseHead, body: ByteBuffer?, request: HTTPRequestHead, requestComplete: Bool,
                            deferIfIncomplete: Bool) {
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
        if let context {
            context.write(wrapOutboundOut(.head(head)), promise: nil)
            if let body, request.method != .HEAD { context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil) }
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: closeWhenWritten())
        }
        exchangeDone()
    }

    /// The response cannot be completed (upstream reset or timeout after headers): close.
    func abortResponse() {
        current = nil
        closing = true
        context?.close(promise: nil)
    }

    private func exchangeDone() {
        current = nil
        lastProgress = now
        if closeAfterResponse {
            closing = true  // closed when the response's end is written (`closeWhenWritten`)
            return
        }
        // Serve what was pipelined meanwhile, until a request is again in flight.
        while current == nil || current?.requestComplete == false, let part = queued.popFirst() {
            handle(part)
            if closing { return }
        }
    }

    // MARK: - Limits of the downstream edge

    /// An answer of the edge itself (codec error, timeout): written whole, then the connection
    /// closes, since what follows on the stream cannot be trusted or will not come.
    private func edgeReply(_ reply: LocalReply, request: HTTPRequestHead? = nil, logged: Bool = false) {
        closing = true
        if !logged, !manager.accessLogs.isEmpty {
            // Envoy logs what its codec refused too: no method or path when there was no head.
            var record = AccessLogRecord(startTime: WallClock.nowMicroseconds())
            record.protocolName = "HTTP/1.1"
            record.method = request?.method.rawValue
            record.path = request?.uri
            record.requestHeaders = request?.headers
            record.responseCode = Int(reply.status.code)
            record.responseFlags = reply.flags
            record.responseCodeDetails = reply.details
            record.bytesSent = reply.body.utf8.count
            record.duration = 0
            connectionInfo.fill(&record)
            http.worker.log(record, to: manager.accessLogs)
        }
        guard let context else { return }
        var headers = HTTPHeaders()
        headers.add(name: "content-length", value: String(reply.body.utf8.count))
        headers.add(name: "content-type", value: "text/plain")
        headers.add(name: "connection", value: "close")
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: reply.status, headers: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: reply.body)))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { _ in
            context.close(promise: nil)
        }
    }

    private func armStallTimer() {
        guard let due = stallDeadline() else { return }
        stallTimer = loop.assumeIsolated().scheduleTask(deadline: due) { [self] in
            stallTimer = nil
            checkStall()
        }
    }

    /// When the request being received runs out of time, or nil if nothing is being received.
    private func stallDeadline() -> NIODeadline? {
        var due: NIODeadline?
        func earliest(_ deadline: NIODeadline) { due = due.map { min($0, deadline) } ?? deadline }
        if current == nil, let headStarted {
            // Trickled head bytes are not progress: the head has this long from its first byte.
            if let timeout = limits.requestHeadersTimeout { earliest(headStarted + TimeAmount(timeout)) }
            if let timeout = limits.streamIdleTimeout { earliest(headStarted + TimeAmount(timeout)) }
            if let timeout = limits.requestTimeout { earliest(headStarted + TimeAmount(timeout)) }
        } else if let current, !current.requestComplete {
            if let timeout = limits.streamIdleTimeout { earliest(lastProgress + TimeAmount(timeout)) }
            if let timeout = limits.requestTimeout { earliest(current.started + TimeAmount(timeout)) }
        }
        return due
    }

    private func checkStall() {
        guard !closing, let due = stallDeadline() else { return }
        guard now >= due else { return armStallTimer() }
        http.worker.stats.downstreamTimeouts += 1
        pendingLocal = nil
        if let current {
            let requestTimedOut = limits.requestTimeout.map { now >= current.started + TimeAmount($0) } ?? false
            let reply: LocalReply = requestTimedOut ? .requestTimeout : .streamIdleTimeout
            self.current = nil
            queued.removeAll()
            if responseInProgress {
                current.downstreamClosed()
                closing = true
                context?.close(promise: nil)
                return
            }
            current.downstreamClosed(edge: reply)
            http.worker.stats.count(status: 408)
            return edgeReply(reply, logged: true)
        }
        http.worker.stats.count(status: 408)
        edgeReply(limits.requestHeadersTimeout != nil ? .requestHeadersTimeout : .streamIdleTimeout)
    }

    private func scheduleIdleCheck(at deadline: NIODeadline) {
        idleTimer = loop.assumeIsolated().scheduleTask(deadline: deadline) { [self] in
            idleTimer = nil
            checkIdle()
        }
    }

    /// Closes the connection once no request has been in flight for the idle timeout; while one
    /// is, the check comes back later (cheaper than re-arming a timer per request).
    private func checkIdle() {
        guard !closing, let idle = limits.idleTimeout else { return }
        guard current == nil, queued.isEmpty, headStarted == nil else {
            return scheduleIdleCheck(at: now + TimeAmount(idle))
        }
        let due = lastProgress + TimeAmount(idle)
        guard now >= due else { return scheduleIdleCheck(at: due) }
        http.worker.stats.downstreamIdleClosed += 1
        closing = true
        context?.close(promise: nil)
    }

    /// Rewrites an absolute-form target (`GET http://host/path`, sent to proxies) to origin form
    /// with the URL's authority as Host, as Envoy does. False if the target is not acceptable.
    static func originForm(_ head: inout HTTPRequestHead, allowAbsolute: Bool) -> Bool {
        guard let first = head.uri.utf8.first, first != UInt8(ascii: "/") else { return true }
        if head.uri == "*" { return head.method == .OPTIONS }
        let lower = head.uri.lowercased()
        let scheme = lower.hasPrefix("http://") ? 7 : lower.hasPrefix("https://") ? 8 : 0
        guard allowAbsolute, scheme > 0 else { return false }
        let rest = head.uri.dropFirst(scheme)
        let pathStart = rest.firstIndex(where: { $0 == "/" || $0 == "?" }) ?? rest.endIndex
        let authority = rest[..<pathStart]
        guard !authority.isEmpty, !authority.contains("@") else { return false }
        let path = rest[pathStart...]
        head.uri = path.isEmpty ? "/" : path.hasPrefix("?") ? "/" + path : String(path)
        head.headers.replaceOrAdd(name: "host", value: String(authority))
        return true
    }

    // MARK: - Upgrades (WebSocket)

    enum UpgradeRequest: Equatable { case none, allowed(String), refused }

    /// An `Upgrade` request (with `Connection: upgrade`) to a type the connection manager allows
    /// goes upstream as one; another type is refused with 403, as Envoy does. `h2c` is not an
    /// upgrade a proxy can pass on: its headers are dropped and the request goes as plain HTTP/1.1.
    static func upgradeRequest(_ head: inout HTTPRequestHead, allowed: [String]) -> UpgradeRequest {
        guard let value = head.headers.first(name: "upgrade"),
              head.headers[canonicalForm: "connection"].contains(where: { $0.lowercased() == "upgrade" }) else { return .none }
        let type = value.split(separator: "/").first.map { ASCII.trimmed($0).lowercased() } ?? ""
        if type == "h2c" {
            head.headers.remove(name: "upgrade")
            head.headers.remove(name: "http2-settings")
            return .none
        }
        return allowed.contains(type) ? .allowed(value) : .refused
    }

    /// The upstream declined the upgrade and answers as HTTP: this connection ends with it.
    func closeAfterUpgradeDeclined() {
        closeAfterResponse = true
    }

    /// The upstream accepted the upgrade: its 101 goes out, this connection's HTTP handlers come
    /// off, and from here the two connections are one byte pipe.
    func becomeTunnel(_ response: HTTPResponseHead, upstream: UpstreamHTTPConnection, idleTimeout: Duration?) {
        guard !closing, let context, upstream.channel.isActive else {
            upstream.channel.close(promise: nil)
            return
        }
        current = nil
        queued.removeAll()
        stallTimer?.cancel()
        idleTimer?.cancel()
        context.write(wrapOutboundOut(.head(response)), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        let channel = context.channel
        let http = self.http
        do {
            let operations = context.pipeline.syncOperations
            operations.removeHandler(try operations.handler(type: ByteToMessageHandler<HTTPRequestDecoder>.self), promise: nil)
            operations.removeHandler(try operations.handler(type: HTTPResponseEncoder.self), promise: nil)
            operations.removeHandler(context: context, promise: nil)
            try TCPProxySession.splice(downstream: channel, upstream: upstream.channel, worker: http.worker, idleTimeout: idleTimeout) {
                http.connectionClosed(upstream)
            }
            // Bytes that came with the 101 are handed on by the decoder's removal, with no
            // read-complete after them to flush them: without this they would wait for the next read.
            try upstream.leaveHTTP().whenComplete { _ in channel.flush() }
        } catch {
            // The pipelines are not what this code built: nothing sane can follow on either.
            http.worker.stats.downstreamProtocolErrors += 1
            channel.close(promise: nil)
            upstream.channel.close(promise: nil)
        }
    }
}
