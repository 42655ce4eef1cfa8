// A small HTTP/1.1 server for whole-text answers: meshd's debug API and meshproxy's admin port; and the query parsing both and the Bookinfo apps use.

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import NIOCore
import NIOHTTP1
import NIOPosix

/// A whole answer: status, content type and body text.
public struct TextResponse: Sendable {
    public var status: HTTPResponseStatus
    public var contentType: String
    public var body: String

    public init(status: HTTPResponseStatus = .ok, contentType: String = "application/json", body: String) {
        self.status = status
        self.contentType = contentType
        self.body = body
    }
}

/// Serves each request by handing its head to a responder (a request body is read and dropped:
/// every path is answered from the head), one request at a time per connection.
public enum TextHTTPServer {
    /// The answer to a request, completed on any loop.
    public typealias Responder = @Sendable (_ head: HTTPRequestHead, _ loop: EventLoop) -> EventLoopFuture<TextResponse>

    /// Binds `host:port`; close the channel to stop. With `closeAfterResponse` every connection
    /// closes after its answer (clients that make one request each: curl, meshctl); otherwise it
    /// stays open while the client keeps it alive (Envoy's admin port does, and scrapers reuse it).
    public static func bind(host: String, port: Int, group: EventLoopGroup, closeAfterResponse: Bool,
                            respond: @escaping Responder) -> EventLoopFuture<Channel> {
        ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(TextRequestHandler(respond: respond, closeAfterResponse: closeAfterResponse))
                }
            }
            .bind(host: host, port: port)
    }

    /// `/a/b?x=1&y=2` into the path and its decoded query parameters.
    public static func splitQuery(_ uri: String) -> (String, [String: String]) {
        guard let mark = uri.firstIndex(of: "?") else { return (uri, [:]) }
        return (String(uri[..<mark]), formFields(String(uri[uri.index(after: mark)...])))
    }

    /// `x=1&y=a+b` (a query or a form body) into decoded fields; `+` is a space.
    public static func formFields(_ text: String) -> [String: String] {
        var fields: [String: String] = [:]
        for pair in text.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1).map { String($0).replacing("+", with: " ") }
            let key = percentDecoded(parts[0]) ?? parts[0]
            fields[key] = parts.count > 1 ? (percentDecoded(parts[1]) ?? parts[1]) : ""
        }
        return fields
    }

    /// `a%2Fb` as `a/b`; nil for a malformed escape or bytes that are not UTF-8 (as Foundation's
    /// `removingPercentEncoding`, which FoundationEssentials lacks).
    public static func percentDecoded(_ text: String) -> String? {
        guard text.utf8.contains(UInt8(ascii: "%")) else { return text }
        func hexValue(_ byte: UInt8) -> UInt8? {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
            default: nil
            }
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count)
        var iterator = text.utf8.makeIterator()
        while let byte = iterator.next() {
            guard byte == UInt8(ascii: "%") else {
                bytes.append(byte)
                continue
            }
            guard let high = iterator.next().flatMap(hexValue), let low = iterator.next().flatMap(hexValue) else { return nil }
            bytes.append(high << 4 | low)
        }
        return String(validating: bytes, as: UTF8.self)
    }
}

final class TextRequestHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let respond: TextHTTPServer.Responder
    private let closeAfterResponse: Bool
    private var head: HTTPRequestHead?

    init(respond: @escaping TextHTTPServer.Responder, closeAfterResponse: Bool) {
        self.respond = respond
        self.closeAfterResponse = closeAfterResponse
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head): self.head = head
        case .body: break
        case .end:
            guard let head else { return }
            self.head = nil
            let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            respond(head, context.eventLoop).hop(to: context.eventLoop).whenComplete { result in
                let (handler, context) = loopBound.value
                switch result {
                case .success(let response):
                    handler.write(response, to: head, context: context)
                case .failure(let error):
                    handler.write(TextResponse(status: .internalServerError, contentType: "text/plain", body: "\(head.uri) failed: \(error)\n"),
                                  to: head, context: context)
                }
            }
        }
    }

    private func write(_ response: TextResponse, to request: HTTPRequestHead, context: ChannelHandlerContext) {
        let closes = closeAfterResponse || !request.isKeepAlive
        var headers = HTTPHeaders()
        headers.add(name: "content-type", value: response.contentType)
        headers.add(name: "content-length", value: String(response.body.utf8.count))
        if closes { headers.add(name: "connection", value: "close") }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: request.version, status: response.status, headers: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: response.body)))), promise: nil)
        let written = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        // Closed once the answer is written: closing at once would drop what the socket has not taken.
        if closes { written.assumeIsolated().whenComplete { _ in context.close(promise: nil) } }
    }
}
