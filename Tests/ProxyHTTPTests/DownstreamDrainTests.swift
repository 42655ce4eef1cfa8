// A client connection told to drain (its listener or filter chain changed): HTTP/1.1 closes at once when idle and after the answer under way otherwise; HTTP/2 sends GOAWAY and closes when its streams are done (that part in DownstreamHTTP2Tests).

import NIOCore
import NIOEmbedded
import NIOHTTP2
import ProxyCore
@testable import ProxyHTTP
import Testing

@Suite struct DownstreamDrainTests {
    /// The close waits for a PING written after the last answer: the answer's end is on the wire first.
    static func expectPingThenClose(_ channel: EmbeddedChannel) throws {
        #expect(channel.isActive)
        channel.embeddedEventLoop.run()
        let frame = try #require(try channel.readOutbound(as: HTTP2Frame.self))
        guard case .ping(_, ack: false) = frame.payload else {
            Issue.record("expected PING, got \(frame.payload)")
            return
        }
        #expect(!channel.isActive)
    }

    @Test func anIdleHTTP1ConnectionClosesAtOnce() throws {
        let channel = try DownstreamCodecTests.connection()
        #expect(try DownstreamCodecTests.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n", on: channel).hasPrefix("HTTP/1.1 200 OK\r\n"))
        #expect(channel.isActive)
        channel.pipeline.fireUserInboundEventTriggered(ConnectionDrain())
        #expect(!channel.isActive)
    }

    @Test func aRequestUnderWayIsAnsweredWithConnectionCloseThenTheConnectionCloses() throws {
        let channel = try DownstreamCodecTests.connection()
        // The head and half the body: the answer waits for the rest.
        #expect(try DownstreamCodecTests.send("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\nab", on: channel).isEmpty)
        channel.pipeline.fireUserInboundEventTriggered(ConnectionDrain())
        #expect(channel.isActive)
        let out = try DownstreamCodecTests.send("cd", on: channel)
        #expect(out.hasPrefix("HTTP/1.1 200 OK\r\n"), "\(out)")
        #expect(out.lowercased().contains("connection: close\r\n"), "\(out)")
        #expect(out.hasSuffix("hello"))
        #expect(!channel.isActive)
    }

    /// A connection told to drain before its first bytes chose the protocol (accepted just before
    /// its chain changed): the codec chosen later still drains it, so the first request is
    /// answered and no second one is served on the old chain (the fourteenth session's tracing
    /// gap: such connections went on until the drain time). Here the answer is immediate, so the
    /// connection is idle when the drain arrives and closes after it.
    @Test func aDrainBeforeTheFirstBytesReachesTheCodecChosenAfterThem() throws {
        let manager = try DownstreamCodecTests.manager()
        let channel = EmbeddedChannel()
        let worker = Worker(index: 0, loop: channel.embeddedEventLoop)
        let http = HTTPWorker(worker: worker, upstreamBindAddress: nil)
        DownstreamCodecTests.keepAlive.append(http)
        try channel.pipeline.syncOperations.addHandler(HTTPProtocolSniffer { _, operations in
            try DownstreamHTTPHandler.configure(operations, manager: manager)
            try operations.addHandler(DownstreamHTTPHandler(http: http, manager: manager, connection: DownstreamConnectionInfo(channel: channel, security: nil)))
        })
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        channel.pipeline.fireUserInboundEventTriggered(ConnectionDrain())
        #expect(channel.isActive)
        let out = try DownstreamCodecTests.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n", on: channel)
        #expect(out.hasPrefix("HTTP/1.1 200 OK\r\n"), "\(out)")
        #expect(!channel.isActive)
    }

    @Test func anUpstreamHTTP2ConnectionClosesQuietlyOnceItsStreamsAreDone() throws {
        let drain = HTTP2ConnectionDrain()
        let channel = EmbeddedChannel(handler: drain)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        drain.streamCreated(1, channel: channel)
        channel.pipeline.fireUserInboundEventTriggered(ConnectionDrain())
        #expect(try channel.readOutbound(as: HTTP2Frame.self) == nil)
        #expect(channel.isActive)
        drain.streamClosed(1, channel: channel)
        try Self.expectPingThenClose(channel)
    }
}
