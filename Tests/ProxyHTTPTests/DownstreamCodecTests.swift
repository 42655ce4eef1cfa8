// The downstream HTTP/1.1 edge with EmbeddedChannel: smuggling shapes refused with 400 and a close, pipelining in order,
// oversize heads 431, slowloris heads and bodies 408 on the loop's (virtual) clock, idle connections closed.

import EnvoyAPI
import NIOCore
import NIOEmbedded
import NIOHTTP1
import ProxyConfig
import ProxyCore
@testable import ProxyHTTP
import SwiftProtobuf
import Testing

@Suite struct DownstreamCodecTests {
    /// An HTTP filter named `name` configured with `config`.
    static func httpFilter(_ name: String, _ config: any SwiftProtobuf.Message) throws
        -> Envoy_Extensions_Filters_Network_HttpConnectionManager_V3_HttpFilter {
        var filter = Envoy_Extensions_Filters_Network_HttpConnectionManager_V3_HttpFilter()
        filter.name = name
        filter.typedConfig = try Google_Protobuf_Any(message: config)
        return filter
    }

    /// An HTTP connection manager whose one route answers directly, so no upstream is involved,
    /// as the listener `test` decodes it; `customize` and `customizeListener` change either proto.
    static func manager(_ customize: (inout Envoy_Extensions_Filters_Network_HttpConnectionManager_V3_HttpConnectionManager) throws -> Void = { _ in },
                        listener customizeListener: (inout Envoy_Config_Listener_V3_Listener) -> Void = { _ in })
        throws -> HTTPConnectionManagerConfig {
        var route = Envoy_Config_Route_V3_Route()
        route.match.prefix = "/"
        route.directResponse.status = 200
        route.directResponse.body.inlineString = "hello"
        var host = Envoy_Config_Route_V3_VirtualHost()
        host.name = "all"
        host.domains = ["*"]
        host.routes = [route]
        var manager = Envoy_Extensions_Filters_Network_HttpConnectionManager_V3_HttpConnectionManager()
        manager.statPrefix = "test"
        manager.routeConfig.name = "inline"
        manager.routeConfig.virtualHosts = [host]
        manager.httpFilters = [try httpFilter("envoy.filters.http.router", Envoy_Extensions_Filters_Http_Router_V3_Router())]
        try customize(&manager)
        var filter = Envoy_Config_Listener_V3_Filter()
        filter.name = "envoy.filters.network.http_connection_manager"
        filter.typedConfig = try Google_Protobuf_Any(message: manager)
        var listener = Envoy_Config_Listener_V3_Listener()
        listener.name = "test"
        listener.address.socketAddress.address = "127.0.0.1"
        listener.address.socketAddress.portValue = 9080
        var chain = Envoy_Config_Listener_V3_FilterChain()
        chain.filters = [filter]
        listener.filterChains = [chain]
        customizeListener(&listener)
        guard case .http(let decoded) = try ListenerConfig(proto: listener, limits: ConfigLimits()).filterChains[0].network else {
            throw ProxyConfigError("test", "not an HTTP chain")
        }
        return decoded
    }

    /// A downstream connection as the installer builds it, on an embedded loop.
    static func connection(_ manager: HTTPConnectionManagerConfig? = nil) throws -> EmbeddedChannel {
        let manager = try manager ?? Self.manager()
        let channel = EmbeddedChannel()
        let worker = Worker(index: 0, loop: channel.embeddedEventLoop)
        let http = HTTPWorker(worker: worker, upstreamBindAddress: nil)
        try DownstreamHTTPHandler.configure(channel.pipeline.syncOperations, manager: manager)
        try channel.pipeline.syncOperations.addHandler(DownstreamHTTPHandler(http: http, manager: manager, connection: DownstreamConnectionInfo(channel: channel, security: nil)))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        // The HTTP worker lives as long as the test: the handler only holds it unowned.
        Self.keepAlive.append(http)
        return channel
    }

    nonisolated(unsafe) static var keepAlive: [HTTPWorker] = []

    static func send(_ text: String, on channel: EmbeddedChannel) throws -> String {
        try? channel.writeInbound(ByteBuffer(string: text))
        var out = ""
        while let buffer = try channel.readOutbound(as: ByteBuffer.self) {
            out += String(buffer: buffer)
        }
        return out
    }

    @Test func aRequestIsAnswered() throws {
        let channel = try Self.connection()
        let out = try Self.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n", on: channel)
        #expect(out.hasPrefix("HTTP/1.1 200 OK\r\n"))
        #expect(out.hasSuffix("\r\n\r\nhello"))
        #expect(channel.isActive)
    }

    /// Nothing of a closed connection stays: the handler kept its context, the context keeps the
    /// handler, and every connection ever taken stayed in memory (about 1 KB each) until
    /// `handlerRemoved` let go of it.
    @Test func aClosedConnectionIsReleased() throws {
        weak var handler: DownstreamHTTPHandler?
        do {
            let channel = try Self.connection()
            handler = try channel.pipeline.syncOperations.handler(type: DownstreamHTTPHandler.self)
            _ = try Self.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n", on: channel)
            try channel.close().wait()
            channel.embeddedEventLoop.run()
        }
        #expect(handler == nil, "the handler of a closed connection is still alive")
    }

    @Test func pipelinedRequestsAreAnsweredInOrder() throws {
        let channel = try Self.connection()
        let out = try Self.send("GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\nGET /3 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", on: channel)
        #expect(out.components(separatedBy: "HTTP/1.1 200 OK").count == 4)
        #expect(!channel.isActive)  // closed after the request that asked for it
    }

    static let smuggling = [
        ("conflicting Content-Length and Transfer-Encoding",
         "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
        ("two different Content-Lengths", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nabcde"),
        ("obs-fold header", "GET / HTTP/1.1\r\nHost: a\r\nX-Folded: one\r\n two\r\n\r\n"),
        ("space before the header colon", "GET / HTTP/1.1\r\nHost : a\r\n\r\n"),
    ]

    @Test func aBadChunkSizeEndsTheConnectionWithOneAnswerAtMost() throws {
        let channel = try Self.connection()
        let out = try Self.send("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\nGET /next HTTP/1.1\r\nHost: a\r\n\r\n", on: channel)
        // The direct answer waits for the body, which never validly ends: 400, nothing routed.
        #expect(out.hasPrefix("HTTP/1.1 400 Bad Request"), "\(out)")
        #expect(!out.contains("hello"))
        #expect(!channel.isActive)
    }

    @Test(arguments: smuggling)
    func smugglingShapesGet400AndAClose(_ case_: (String, String)) throws {
        let channel = try Self.connection()
        let out = try Self.send(case_.1, on: channel)
        #expect(out.hasPrefix("HTTP/1.1 400 Bad Request"), "\(case_.0): \(out)")
        #expect(!out.contains("hello"), "\(case_.0) reached the router")
        #expect(!channel.isActive, "\(case_.0): connection left open")
    }

    static func output(of channel: EmbeddedChannel) throws -> String {
        var out = ""
        while let buffer = try channel.readOutbound(as: ByteBuffer.self) { out += String(buffer: buffer) }
        return out
    }

    @Test func headersOverTheConfiguredSizeGet431AndAClose() throws {
        let channel = try Self.connection(try Self.manager { $0.maxRequestHeadersKb = .init(1) })
        let out = try Self.send("GET / HTTP/1.1\r\nHost: a\r\nX-Big: \(String(repeating: "b", count: 2048))\r\n\r\n", on: channel)
        #expect(out.hasPrefix("HTTP/1.1 431 Request Header Fields Too Large\r\n"), "\(out)")
        #expect(out.contains("connection: close"))
        #expect(!out.contains("hello"))
        #expect(!channel.isActive)
    }

    @Test func envoysDefaultHeaderLimitsHold() throws {
        // 60 KiB of head by default: 59 KiB passes, 61 KiB does not.
        let fits = try Self.connection()
        #expect(try Self.send("GET / HTTP/1.1\r\nHost: a\r\nX-Big: \(String(repeating: "b", count: 59 * 1024))\r\n\r\n", on: fits)
            .hasPrefix("HTTP/1.1 200 OK"))
        let tooBig = try Self.connection()
        #expect(try Self.send("GET / HTTP/1.1\r\nHost: a\r\nX-Big: \(String(repeating: "b", count: 61 * 1024))\r\n\r\n", on: tooBig)
            .hasPrefix("HTTP/1.1 431 "))
        // 100 header fields by default.
        let many = (0..<100).map { "X-H\($0): v\r\n" }.joined()
        let tooMany = try Self.connection()
        #expect(try Self.send("GET / HTTP/1.1\r\nHost: a\r\n\(many)\r\n", on: tooMany).hasPrefix("HTTP/1.1 431 "))
        #expect(!tooMany.isActive)
    }

    @Test func aSlowlorisHeadGets408AfterTheStreamIdleTimeout() throws {
        let channel = try Self.connection()
        let loop = channel.embeddedEventLoop
        _ = try Self.send("GET / HTTP/1.1\r\n", on: channel)
        // Trickling more of the head is not progress: the clock runs from the first byte.
        for minute in 1...4 {
            loop.advanceTime(by: .seconds(60))
            #expect(try Self.send("X-Slow-\(minute): 1\r\n", on: channel).isEmpty)
            #expect(channel.isActive)
        }
        loop.advanceTime(by: .seconds(59))
        #expect(channel.isActive)
        loop.advanceTime(by: .seconds(2))
        let out = try Self.output(of: channel)
        #expect(out.hasPrefix("HTTP/1.1 408 Request Timeout\r\n"), "\(out)")
        #expect(out.hasSuffix("stream timeout"))
        #expect(!channel.isActive)
    }

    @Test func theRequestHeadersTimeoutIsHonoured() throws {
        let channel = try Self.connection(try Self.manager { $0.requestHeadersTimeout = .init(seconds: 10) })
        _ = try Self.send("GET / HTTP/1.1\r\nHost: a\r\n", on: channel)
        channel.embeddedEventLoop.advanceTime(by: .seconds(9))
        #expect(channel.isActive)
        channel.embeddedEventLoop.advanceTime(by: .seconds(2))
        #expect(try Self.output(of: channel).hasSuffix("request headers timeout"))
        #expect(!channel.isActive)
    }

    @Test func aBodyThatStopsArrivingGets408() throws {
        let channel = try Self.connection(try Self.manager { $0.streamIdleTimeout = .init(seconds: 30) })
        _ = try Self.send("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc", on: channel)
        channel.embeddedEventLoop.advanceTime(by: .seconds(20))
        _ = try Self.send("def", on: channel)  // progress: the idle clock starts again
        channel.embeddedEventLoop.advanceTime(by: .seconds(20))
        #expect(channel.isActive)
        channel.embeddedEventLoop.advanceTime(by: .seconds(11))
        let out = try Self.output(of: channel)
        #expect(out.hasPrefix("HTTP/1.1 408 "), "\(out)")
        #expect(!out.contains("hello"))
        #expect(!channel.isActive)
    }

    @Test func anIdleConnectionClosesAfterTheIdleTimeout() throws {
        let channel = try Self.connection(try Self.manager { $0.commonHTTPProtocolOptions.idleTimeout = .init(seconds: 60) })
        #expect(try Self.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n", on: channel).hasPrefix("HTTP/1.1 200 OK"))
        channel.embeddedEventLoop.advanceTime(by: .seconds(50))
        #expect(try Self.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n", on: channel).hasPrefix("HTTP/1.1 200 OK"))
        // Idle counts from the last response: 50 s more is still within 60.
        channel.embeddedEventLoop.advanceTime(by: .seconds(50))
        #expect(channel.isActive)
        channel.embeddedEventLoop.advanceTime(by: .seconds(11))
        #expect(!channel.isActive)
        #expect(try Self.output(of: channel).isEmpty)
    }

    @Test func maxRequestsPerConnectionClosesAfterTheLast() throws {
        let channel = try Self.connection(try Self.manager { $0.commonHTTPProtocolOptions.maxRequestsPerConnection = .init(2) })
        #expect(!(try Self.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n", on: channel).contains("connection: close")))
        #expect(try Self.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n", on: channel).contains("connection: close"))
        #expect(!channel.isActive)
    }

    @Test func absoluteFormTargetsBecomeOriginFormWithTheirAuthority() {
        var head = HTTPRequestHead(version: .http1_1, method: .GET, uri: "http://reviews:9080/a/b?x=1", headers: ["Host": "other"])
        #expect(DownstreamHTTPHandler.originForm(&head, allowAbsolute: true))
        #expect(head.uri == "/a/b?x=1")
        #expect(head.headers["host"] == ["reviews:9080"])
        var bare = HTTPRequestHead(version: .http1_1, method: .GET, uri: "HTTP://reviews", headers: [:])
        #expect(DownstreamHTTPHandler.originForm(&bare, allowAbsolute: true))
        #expect(bare.uri == "/" && bare.headers["host"] == ["reviews"])
        var refused = HTTPRequestHead(version: .http1_1, method: .GET, uri: "http://reviews/", headers: [:])
        #expect(!DownstreamHTTPHandler.originForm(&refused, allowAbsolute: false))
        var userinfo = HTTPRequestHead(version: .http1_1, method: .GET, uri: "http://user@reviews/", headers: [:])
        #expect(!DownstreamHTTPHandler.originForm(&userinfo, allowAbsolute: true))
        var star = HTTPRequestHead(version: .http1_1, method: .OPTIONS, uri: "*", headers: [:])
        #expect(DownstreamHTTPHandler.originForm(&star, allowAbsolute: true))
    }

    @Test func anUnacceptableTargetGets400() throws {
        let channel = try Self.connection()
        #expect(try Self.send("GET reviews/x HTTP/1.1\r\nHost: a\r\n\r\n", on: channel).hasPrefix("HTTP/1.1 400 "))
        #expect(!channel.isActive)
    }

    @Test func upgradeRequestsAreForwardedRefusedOrPlain() {
        func head(_ headers: [(String, String)]) -> HTTPRequestHead {
            HTTPRequestHead(version: .http1_1, method: .GET, uri: "/", headers: HTTPHeaders(headers))
        }
        var websocket = head([("Connection", "keep-alive, Upgrade"), ("Upgrade", "WebSocket")])
        #expect(DownstreamHTTPHandler.upgradeRequest(&websocket, allowed: ["websocket"]) == .allowed("WebSocket"))
        var other = head([("Connection", "upgrade"), ("Upgrade", "foo/2")])
        #expect(DownstreamHTTPHandler.upgradeRequest(&other, allowed: ["websocket"]) == .refused)
        // Without Connection: upgrade it is not an upgrade (neither for NIO's parser nor for Envoy).
        var noConnection = head([("Upgrade", "websocket")])
        #expect(DownstreamHTTPHandler.upgradeRequest(&noConnection, allowed: []) == .none)
        var h2c = head([("Connection", "Upgrade, HTTP2-Settings"), ("Upgrade", "h2c"), ("HTTP2-Settings", "AAMAAABkAAQAAP__")])
        #expect(DownstreamHTTPHandler.upgradeRequest(&h2c, allowed: []) == .none)
        #expect(!h2c.headers.contains(name: "upgrade") && !h2c.headers.contains(name: "http2-settings"))
    }

    @Test func anUpgradeTheManagerDoesNotAllowGets403AndAClose() throws {
        let channel = try Self.connection()
        let out = try Self.send("GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n", on: channel)
        #expect(out.hasPrefix("HTTP/1.1 403 Forbidden\r\n"), "\(out)")
        #expect(!channel.isActive)
    }

    @Test func expect100ContinueIsAnsweredAtOnceAndNotForwarded() throws {
        let channel = try Self.connection()
        // The head alone: the client waits for 100 before its body.
        let interim = try Self.send("POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 3\r\n\r\n", on: channel)
        #expect(interim == "HTTP/1.1 100 Continue\r\n\r\n", "\(interim)")
        let out = try Self.send("abc", on: channel)
        #expect(out.hasPrefix("HTTP/1.1 200 OK\r\n"), "\(out)")
        #expect(channel.isActive)
        // HTTP/1.0 cannot take a 100.
        let old = try Self.send("POST / HTTP/1.0\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc", on: channel)
        #expect(old.hasPrefix("HTTP/1.0 200 OK\r\n"), "\(old)")
    }

    @Test func expectIsTakenOffTheRequest() {
        var headers = HTTPHeaders([("host", "a"), ("EXPECT", "100-continue"), ("x", "y")])
        #expect(HeaderPolicy.takeExpectContinue(&headers))
        #expect(headers.map(\.name) == ["host", "x"])
        var other = HTTPHeaders([("expect", "something-else")])
        #expect(!HeaderPolicy.takeExpectContinue(&other))
        #expect(other.isEmpty)
    }
}
