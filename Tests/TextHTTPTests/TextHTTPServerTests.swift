// The whole-text HTTP server on a loopback socket: answers from the head, keep-alive or close as asked, a failed answer is a 500; query and form decoding.

import NIOCore
import NIOHTTP1
import NIOPosix
import Testing
@testable import TextHTTP

/// Collects what the server sends until it closes, or (`expected`) until that many answers have arrived.
final class RawCollector: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    private var text = ""
    private let expected: Int?
    private var finished = false
    let done: EventLoopPromise<(String, closed: Bool)>

    init(expected: Int?, done: EventLoopPromise<(String, closed: Bool)>) {
        self.expected = expected
        self.done = done
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        text += String(buffer: unwrapInboundIn(data))
        if let expected, !finished, text.components(separatedBy: "HTTP/1.1 ").count - 1 == expected, text.hasSuffix("\n") {
            finished = true
            done.succeed((text, closed: false))
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        guard !finished else { return }  // the test closed it after its answers
        finished = true
        done.succeed((text, closed: true))
    }
}

@Suite struct TextHTTPServerTests {
    static func exchange(_ request: String, expected: Int? = nil, closeAfterResponse: Bool) async throws -> (String, closed: Bool) {
        let group = MultiThreadedEventLoopGroup.singleton
        let server = try await TextHTTPServer.bind(host: "127.0.0.1", port: 0, group: group, closeAfterResponse: closeAfterResponse) { head, loop in
            if head.uri == "/fail" { return loop.makeFailedFuture(ChannelError.ioOnClosedChannel) }
            return loop.makeSucceededFuture(TextResponse(contentType: "text/plain", body: "\(head.method) \(head.uri)\n"))
        }.get()
        let done = group.next().makePromise(of: (String, closed: Bool).self)
        let client = try await ClientBootstrap(group: group)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(RawCollector(expected: expected, done: done)) }
            }
            .connect(to: server.localAddress!).get()
        try await client.writeAndFlush(ByteBuffer(string: request))
        let result = try await done.futureResult.get()
        if !result.closed { try await client.close().get() }  // else the server closed it already
        try await server.close().get()
        return result
    }

    @Test func keepAliveConnectionsServeOneRequestAfterAnother() async throws {
        let (text, closed) = try await Self.exchange("GET /a HTTP/1.1\r\nHost: x\r\n\r\nPOST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc",
                                                     expected: 2, closeAfterResponse: false)
        #expect(text.contains("GET /a\n") && text.contains("POST /b\n"), "\(text)")
        #expect(!text.lowercased().contains("connection: close"))
        #expect(!closed)
    }

    @Test func closingServersCloseAfterTheirAnswer() async throws {
        let (text, closed) = try await Self.exchange("GET /a HTTP/1.1\r\nHost: x\r\n\r\n", closeAfterResponse: true)
        #expect(text.hasPrefix("HTTP/1.1 200 OK\r\n"))
        #expect(text.lowercased().contains("connection: close\r\n"))
        #expect(text.hasSuffix("GET /a\n"), "the whole answer arrives before the close: \(text)")
        #expect(closed)
    }

    @Test func aFailedAnswerIsA500NamingThePath() async throws {
        let (text, closed) = try await Self.exchange("GET /fail HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", closeAfterResponse: false)
        #expect(text.hasPrefix("HTTP/1.1 500 Internal Server Error\r\n"), "\(text)")
        #expect(text.contains("/fail failed: "))
        #expect(closed, "the client asked for `connection: close`")
    }

    @Test func queriesAndFormsAreDecoded() {
        let (path, query) = TextHTTPServer.splitQuery("/debug/config_dump?proxyID=sidecar%7E1&x=a+b&flag")
        #expect(path == "/debug/config_dump")
        #expect(query == ["proxyID": "sidecar~1", "x": "a b", "flag": ""])
        #expect(TextHTTPServer.splitQuery("/plain") == ("/plain", [:]))
        #expect(TextHTTPServer.formFields("username=jason&password=") == ["username": "jason", "password": ""])
    }

    @Test func percentEscapesDecodeAsUTF8OrNotAtAll() {
        #expect(TextHTTPServer.percentDecoded("a%2Fb%2fc") == "a/b/c", "either case of hex digits")
        #expect(TextHTTPServer.percentDecoded("caf%C3%A9") == "café", "escapes are UTF-8 bytes")
        #expect(TextHTTPServer.percentDecoded("plain") == "plain")
        #expect(TextHTTPServer.percentDecoded("100%") == nil, "a cut escape")
        #expect(TextHTTPServer.percentDecoded("%zz") == nil, "not hex")
        #expect(TextHTTPServer.percentDecoded("%C3") == nil, "half a character")
        // A malformed value is kept as written rather than dropped.
        #expect(TextHTTPServer.formFields("q=50%") == ["q": "50%"])
    }
}
