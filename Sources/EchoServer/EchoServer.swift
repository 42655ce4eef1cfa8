// echo-server: the test backend. Answers with who it is and what it got; fails or waits on request.

import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOHTTP2
import NIOPosix

/// Request headers that steer the answer (conformance scenarios use them):
/// - `x-echo-status: N` answers with status N;
/// - `x-echo-delay-ms: N` answers after N ms;
/// - `x-echo-fail-first: KEY` answers 503 to the first request carrying KEY, then normally
///   (`x-echo-attempt` tells which attempt this was), so a retry is visible.
/// - `x-echo-pad: N` adds N bytes of padding to the answer (large responses);
/// - `x-echo-truncate: N` sends the head promising N more body bytes than it then sends, and
///   closes the connection: an upstream that resets mid-body.
/// - `Upgrade: websocket` (with `Connection: upgrade`) is accepted with 101; the connection then
///   sends `upstream-ready\n` and echoes every byte until the client closes (no WebSocket
///   framing: a proxy must pass bytes, whatever they are).
/// `GET /__echo/stats` returns how many requests arrived whole (not counting itself) and their body bytes.
/// With `--fail-status N` every request gets N (an unhealthy endpoint); with `--delay-ms N`
/// every answer waits N ms (a slow shadow). With `--http2` it speaks h2c (prior knowledge)
/// instead of HTTP/1.1, one stream per request, and answers gRPC requests (`content-type:
/// application/grpc*`) as a gRPC echo of any method: the request's messages come back as the
/// response, with `x-echo-server` in the headers and, in the trailers, `grpc-status` (0, or
/// the request's `x-echo-grpc-status`), the path and the `te` header that arrived.
@main
struct EchoServer {
    static func main() throws {
        var arguments = CommandLine.arguments.dropFirst()
        var listen = "127.0.0.1:8080"
        var name = "echo"
        var failStatus: Int?
        var delayMilliseconds: Int64 = 0
        var http2 = false
        while let argument = arguments.popFirst() {
            switch argument {
            case "--listen": listen = arguments.popFirst() ?? listen
            case "--name": name = arguments.popFirst() ?? name
            case "--fail-status": failStatus = arguments.popFirst().flatMap(Int.init)
            case "--delay-ms": delayMilliseconds = arguments.popFirst().flatMap(Int64.init) ?? 0
            case "--http2": http2 = true
            default:
                FileHandle.standardError.write(Data("usage: echo-server --listen HOST:PORT --name NAME [--fail-status N] [--delay-ms N] [--http2]\n".utf8))
                exit(2)
            }
        }
        guard let colon = listen.lastIndex(of: ":"), let port = Int(listen[listen.index(after: colon)...]) else {
            FileHandle.standardError.write(Data("--listen must be HOST:PORT\n".utf8))
            exit(2)
        }
        let state = EchoState(name: name, failStatus: failStatus, delayMilliseconds: delayMilliseconds)
        let channel = try ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                if http2 {
                    return channel.eventLoop.makeCompletedFuture {
                        _ = try channel.pipeline.syncOperations.configureHTTP2Pipeline(
                            mode: .server, connectionConfiguration: .init(), streamConfiguration: .init()
                        ) { stream in
                            stream.eventLoop.makeCompletedFuture {
                                try stream.pipeline.syncOperations.addHandler(HTTP2FramePayloadToHTTP1ServerCodec())
                                try stream.pipeline.syncOperations.addHandler(EchoHandler(state: state))
                            }
                        }
                    }
                }
                return channel.pipeline.configureHTTPServerPipeline(withServerUpgrade: (upgraders: [RawEchoUpgrader()], completionHandler: { context in
                    // Sent once the HTTP handlers are gone, at once: it can share a segment with
                    // the 101, as a server-first protocol's bytes would.
                    context.channel.writeAndFlush(ByteBuffer(string: "upstream-ready\n"), promise: nil)
                }))
                    .flatMap { channel.pipeline.addHandler(EchoHandler(state: state), name: "echo") }
            }
            .bind(host: String(listen[..<colon]), port: port).wait()
        FileHandle.standardError.write(Data("echo-server \(name) on \(channel.localAddress!)\n".utf8))
        try channel.closeFuture.wait()
    }
}

final class EchoState: Sendable {
    let name: String
    let failStatus: Int?
    let delayMilliseconds: Int64
    private let counters = NIOLockedValueBox((requests: 0, bodyBytes: 0, keys: [String: Int]()))

    init(name: String, failStatus: Int?, delayMilliseconds: Int64) {
        self.name = name
        self.failStatus = failStatus
        self.delayMilliseconds = delayMilliseconds
    }

    func count() -> Int { counters.withLockedValue { $0.requests } }

    /// Body bytes of every request counted so far.
    func bodyBytes() -> Int { counters.withLockedValue { $0.bodyBytes } }

    /// Counts a request (whole, with `bodyBytes` of body); returns the attempt number for its fail-first key.
    func record(key: String?, bodyBytes: Int) -> Int {
        counters.withLockedValue { state in
            state.requests += 1
            state.bodyBytes += bodyBytes
            guard let key else { return 1 }
            state.keys[key, default: 0] += 1
            return state.keys[key]!
        }
    }
}

final class EchoHandler: ChannelInboundHandler, RemovableChannelHandler, @unchecked Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let state: EchoState
    private var head: HTTPRequestHead?
    private var bodyBytes = 0
    /// The body itself, kept only for gRPC (echoed back).
    private var grpcBody: ByteBuffer?

    init(state: EchoState) {
        self.state = state
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
            bodyBytes = 0
            grpcBody = head.headers.first(name: "content-type")?.hasPrefix("application/grpc") == true ? ByteBuffer() : nil
        case .body(var buffer):
            bodyBytes += buffer.readableBytes
            grpcBody?.writeBuffer(&buffer)
        case .end:
            guard let head else { return }
            self.head = nil
            if let body = grpcBody { return answerGRPC(head, body: body, context: context) }
            answer(head, context: context)
        }
    }

    private func answer(_ head: HTTPRequestHead, context: ChannelHandlerContext) {
        if head.uri == "/__echo/stats" {
            write(status: 200, body: "{\"server\":\"\(state.name)\",\"requests\":\(state.count()),\"body_bytes\":\(state.bodyBytes())}\n", extra: [], keepAlive: head.isKeepAlive, context: context)
            return
        }
        let attempt = state.record(key: head.headers.first(name: "x-echo-fail-first"), bodyBytes: bodyBytes)
        var status = head.headers.first(name: "x-echo-status").flatMap(Int.init) ?? 200
        if head.headers.first(name: "x-echo-fail-first") != nil, attempt == 1 { status = 503 }
        if let failStatus = state.failStatus { status = failStatus }
        var headers: [String: String] = [:]
        for (name, value) in head.headers { headers[name.lowercased()] = headers[name.lowercased()].map { "\($0),\(value)" } ?? value }
        var report: [String: Any] = [
            "server": state.name, "method": head.method.rawValue, "path": head.uri,
            "host": head.headers.first(name: "host") ?? "", "headers": headers, "body_bytes": bodyBytes, "attempt": attempt,
            // Who connected: a sidecar's inbound cluster (127.0.0.1) or its passthrough (127.0.0.6).
            "peer": context.channel.remoteAddress?.ipAddress ?? "",
        ]
        if let pad = head.headers.first(name: "x-echo-pad").flatMap(Int.init), pad > 0 {
            report["pad"] = String(repeating: "p", count: min(pad, 64 << 20))
        }
        let body = (try? JSONSerialization.data(withJSONObject: report, options: [.sortedKeys])).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
        let extra = [("x-echo-server", state.name), ("x-echo-attempt", String(attempt))]
        let delay = head.headers.first(name: "x-echo-delay-ms").flatMap(Int64.init) ?? state.delayMilliseconds
        let keepAlive = head.isKeepAlive
        if let missing = head.headers.first(name: "x-echo-truncate").flatMap(Int.init) {
            return writeTruncated(status: status, body: body + "\n", missing: missing, context: context)
        }
        if delay > 0 {
            let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            context.eventLoop.scheduleTask(in: .milliseconds(delay)) {
                let (handler, context) = loopBound.value
                handler.write(status: status, body: body + "\n", extra: extra, keepAlive: keepAlive, context: context)
            }
        } else {
            write(status: status, body: body + "\n", extra: extra, keepAlive: keepAlive, context: context)
        }
    }

    private func answerGRPC(_ head: HTTPRequestHead, body: ByteBuffer, context: ChannelHandlerContext) {
        _ = state.record(key: nil, bodyBytes: bodyBytes)
        let headers: HTTPHeaders = ["content-type": "application/grpc", "x-echo-server": state.name]
        var trailers: HTTPHeaders = ["grpc-status": head.headers.first(name: "x-echo-grpc-status") ?? "0",
                                     "x-echo-path": head.uri, "x-echo-te": head.headers.first(name: "te") ?? ""]
        if trailers.first(name: "grpc-status") != "0" { trailers.add(name: "grpc-message", value: "asked for by x-echo-grpc-status") }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http2, status: .ok, headers: headers))), promise: nil)
        if body.readableBytes > 0 { context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil) }
        context.writeAndFlush(wrapOutboundOut(.end(trailers)), promise: nil)
    }

    private func writeTruncated(status: Int, body: String, missing: Int, context: ChannelHandlerContext) {
        var headers = HTTPHeaders()
        headers.add(name: "content-type", value: "application/json")
        headers.add(name: "content-length", value: String(body.utf8.count + missing))
        headers.add(name: "x-echo-server", value: state.name)
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: HTTPResponseStatus(statusCode: status), headers: headers))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: body)))))
            .whenComplete { _ in context.close(promise: nil) }
    }

    private func write(status: Int, body: String, extra: [(String, String)], keepAlive: Bool, context: ChannelHandlerContext) {
        var headers = HTTPHeaders()
        headers.add(name: "content-type", value: "application/json")
        headers.add(name: "content-length", value: String(body.utf8.count))
        for (name, value) in extra { headers.add(name: name, value: value) }
        if !keepAlive { headers.add(name: "connection", value: "close") }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: HTTPResponseStatus(statusCode: status), headers: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: body)))), promise: nil)
        let done = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        if !keepAlive { done.whenComplete { _ in context.close(promise: nil) } }
    }
}

/// Accepts `Upgrade: websocket` and turns the connection into a raw echo.
struct RawEchoUpgrader: HTTPServerProtocolUpgrader, Sendable {
    let supportedProtocol = "websocket"
    let requiredUpgradeHeaders: [String] = []

    func buildUpgradeResponse(channel: Channel, upgradeRequest: HTTPRequestHead, initialResponseHeaders: HTTPHeaders)
        -> EventLoopFuture<HTTPHeaders> {
        channel.eventLoop.makeSucceededFuture(initialResponseHeaders)
    }

    func upgrade(context: ChannelHandlerContext, upgradeRequest: HTTPRequestHead) -> EventLoopFuture<Void> {
        let pipeline = context.pipeline
        return pipeline.removeHandler(name: "echo").flatMap { pipeline.addHandler(RawEcho()) }
    }
}

final class RawEcho: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        context.writeAndFlush(data, promise: nil)
    }
}
