// A small HTTP/1.1 server for meshd's debug API on the debug address.

import NIOCore
import NIOHTTP1
import NIOPosix

/// A response of the debug API.
public struct DebugResponse: Sendable {
    public var status: HTTPResponseStatus
    public var contentType: String
    public var body: String

    public init(status: HTTPResponseStatus = .ok, contentType: String = "application/json", body: String) {
        self.status = status
        self.contentType = contentType
        self.body = body
    }
}

/// Serves GET requests by handing path and query to `respond`; one request at a time per
/// connection, closed after the response (debug clients are curl and meshctl).
public struct DebugHTTPServer: Sendable {
    public typealias Responder = @Sendable (_ path: String, _ query: [String: String]) async -> DebugResponse

    let host: String
    let port: Int
    let respond: Responder

    public init(host: String, port: Int, respond: @escaping Responder) {
        self.host = host
        self.port = port
        self.respond = respond
    }

    /// Binds and returns the channel; close it to stop serving.
    public func start(group: MultiThreadedEventLoopGroup = .singleton) async throws -> Channel {
        let respond = self.respond
        return try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.pipeline.configureHTTPServerPipeline().flatMap {
                    channel.pipeline.addHandler(DebugRequestHandler(respond: respond))
                }
            }
            .bind(host: host, port: port).get()
    }
}

final class DebugRequestHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let respond: DebugHTTPServer.Responder
    private var head: HTTPRequestHead?

    init(respond: @escaping DebugHTTPServer.Responder) {
        self.respond = respond
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head): self.head = head
        case .body: break
        case .end:
            guard let head else { return }
            self.head = nil
            let (path, query) = Self.split(head.uri)
            let promise = context.eventLoop.makePromise(of: DebugResponse.self)
            let respond = self.respond
            promise.completeWithTask {
                head.method == .GET ? await respond(path, query) : DebugResponse(status: .methodNotAllowed, contentType: "text/plain", body: "only GET\n")
            }
            let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            promise.futureResult.whenSuccess { response in
                let (handler, context) = loopBound.value
                handler.write(response, context: context)
            }
        }
    }

    private func write(_ response: DebugResponse, context: ChannelHandlerContext) {
        var headers = HTTPHeaders()
        headers.add(name: "content-type", value: response.contentType)
        headers.add(name: "content-length", value: String(response.body.utf8.count))
        headers.add(name: "connection", value: "close")
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: response.status, headers: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: response.body)))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in context.close(promise: nil) }
    }

    /// `/path?a=b&c=d` into the path and decoded query parameters.
    static func split(_ uri: String) -> (String, [String: String]) {
        guard let mark = uri.firstIndex(of: "?") else { return (uri, [:]) }
        var query: [String: String] = [:]
        for pair in uri[uri.index(after: mark)...].split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1).map { String($0).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? String($0) }
            query[parts[0]] = parts.count > 1 ? parts[1] : ""
        }
        return (String(uri[..<mark]), query)
    }
}

import Foundation
