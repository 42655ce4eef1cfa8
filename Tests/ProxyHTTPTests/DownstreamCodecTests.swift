// The downstream HTTP/1.1 edge with EmbeddedChannel: smuggling shapes refused with 400 and a close, pipelining in order.

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
    /// An HTTP connection manager whose one route answers directly, so no upstream is involved.
    static func manager() throws -> HTTPConnectionManagerConfig {
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
        var router = Envoy_Extensions_Filters_Network_HttpConnectionManager_V3_HttpFilter()
        router.name = "envoy.filters.http.router"
        router.typedConfig = try Google_Protobuf_Any(message: Envoy_Extensions_Filters_Http_Router_V3_Router())
        manager.httpFilters = [router]
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
        guard case .http(let decoded) = try ListenerConfig(proto: listener, limits: ConfigLimits()).filterChains[0].network else {
            throw ProxyConfigError("test", "not an HTTP chain")
        }
        return decoded
    }

    /// A downstream connection as the installer builds it, on an embedded loop.
    static func connection() throws -> EmbeddedChannel {
        let channel = EmbeddedChannel()
        let worker = Worker(index: 0, loop: channel.embeddedEventLoop)
        let http = HTTPWorker(worker: worker, upstreamBindAddress: nil)
        try channel.pipeline.syncOperations.configureHTTPServerPipeline(withPipeliningAssistance: false, withServerUpgrade: nil, withErrorHandling: true)
        try channel.pipeline.syncOperations.addHandler(DownstreamHTTPHandler(http: http, manager: try manager()))
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
}
