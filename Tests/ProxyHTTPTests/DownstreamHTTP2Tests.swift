// The downstream HTTP/2 connection served from its frames, with EmbeddedChannel: requests become
// exchanges, answers end on their last frame (and a reset NO_ERROR when the request has not
// ended), malformed requests are reset, flow-control windows are given back (also behind NIO's
// real HTTP/2 handler, talking to a client's), and a drain sends GOAWAY and closes when the
// streams are done.

import EnvoyAPI
import NIOCore
import NIOEmbedded
import NIOHPACK
import NIOHTTP1
import NIOHTTP2
import ProxyCore
@testable import ProxyHTTP
import SwiftProtobuf
import Testing

@Suite struct DownstreamHTTP2Tests {
    /// A client connection as the installer builds it, less NIO's HTTP/2 handler: frames in and
    /// out are what that handler would pass on. The one route answers "hello" directly.
    static func connection() throws -> EmbeddedChannel {
        let manager = try DownstreamCodecTests.manager()
        let channel = EmbeddedChannel()
        let worker = Worker(index: 0, loop: channel.embeddedEventLoop)
        let http = HTTPWorker(worker: worker, upstreamBindAddress: nil)
        DownstreamCodecTests.keepAlive.append(http)
        try channel.pipeline.syncOperations.addHandler(
            DownstreamHTTP2Connection(http: http, manager: manager, connection: DownstreamConnectionInfo(channel: channel, security: nil)))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        return channel
    }

    static func request(_ id: HTTP2StreamID, method: String = "GET", authority: String? = "a", extra: [(String, String)] = [],
                        endStream: Bool = true) -> HTTP2Frame {
        var block: HPACKHeaders = [":method": method, ":scheme": "http", ":path": "/"]
        if let authority { block.add(name: ":authority", value: authority) }
        for (name, value) in extra { block.add(name: name, value: value) }
        return HTTP2Frame(streamID: id, payload: .headers(.init(headers: block, endStream: endStream)))
    }

    /// Every frame written since the last call.
    static func written(_ channel: EmbeddedChannel) throws -> [HTTP2Frame] {
        var frames: [HTTP2Frame] = []
        while let frame = try channel.readOutbound(as: HTTP2Frame.self) { frames.append(frame) }
        return frames
    }

    /// Frames other than the connection's WINDOW_UPDATE.
    static func streamFrames(_ frames: [HTTP2Frame]) -> [HTTP2Frame] {
        frames.filter { !($0.streamID == .rootStream && { if case .windowUpdate = $0.payload { true } else { false } }($0)) }
    }

    @Test func aRequestIsAnsweredOnItsStreamAndTheEndRidesOnTheLastFrame() throws {
        let channel = try Self.connection()
        try channel.writeInbound(Self.request(1))
        channel.pipeline.fireChannelReadComplete()
        let frames = try Self.written(channel)
        // The connection's window is raised to the stream window as soon as the client speaks.
        guard case .windowUpdate(let increment) = frames.first?.payload, frames.first?.streamID == .rootStream else {
            Issue.record("expected the connection's WINDOW_UPDATE first, got \(frames)")
            return
        }
        #expect(increment == HTTP2Codec.window - 65_535)
        let answer = Self.streamFrames(frames)
        #expect(answer.count == 2, "\(answer)")
        guard case .headers(let head) = answer.first?.payload, case .data(let body) = answer.last?.payload else {
            Issue.record("expected HEADERS then DATA, got \(answer)")
            return
        }
        #expect(answer.allSatisfy { $0.streamID == 1 })
        #expect(head.headers.first(name: ":status") == "200")
        #expect(!head.endStream)
        #expect(head.headers.allSatisfy { $0.name == $0.name.lowercased() })
        #expect(head.headers.first(name: "content-length") == "5")
        #expect(body.endStream)  // no empty DATA frame of its own
        guard case .byteBuffer(let buffer) = body.data else { return }
        #expect(String(buffer: buffer) == "hello")
        // The next stream on the same connection is answered the same way.
        try channel.writeInbound(Self.request(3))
        #expect(Self.streamFrames(try Self.written(channel)).map(\.streamID) == [3, 3])
    }

    /// Streams hold their connection and exchanges their stream: once the connection closes,
    /// all of it goes (a stream left behind would keep the connection alive too).
    @Test func aClosedConnectionIsReleasedWithItsStreams() throws {
        weak var handler: DownstreamHTTP2Connection?
        do {
            let channel = try Self.connection()
            handler = try channel.pipeline.syncOperations.handler(type: DownstreamHTTP2Connection.self)
            try channel.writeInbound(Self.request(1))  // answered
            try channel.writeInbound(Self.request(3, method: "POST", endStream: false))  // answered, body still open
            _ = try Self.written(channel)
            try channel.close().wait()
            channel.embeddedEventLoop.run()
        }
        #expect(handler == nil, "the handler of a closed HTTP/2 connection is still alive")
    }

    @Test func malformedRequestsAreResetWithProtocolError() throws {
        let channel = try Self.connection()
        try channel.writeInbound(Self.request(1, authority: nil))  // no :authority, no host
        try channel.writeInbound(HTTP2Frame(streamID: 3, payload: .headers(.init(headers: [":method": "CONNECT", ":authority": "a:443"]))))
        let resets = Self.streamFrames(try Self.written(channel))
        #expect(resets.map(\.streamID) == [1, 3])
        for frame in resets {
            guard case .rstStream(let code) = frame.payload else {
                Issue.record("expected RST_STREAM, got \(frame.payload)")
                continue
            }
            #expect(code == .protocolError)
        }
        // A host header stands in for :authority.
        try channel.writeInbound(Self.request(5, authority: nil, extra: [("host", "a")]))
        #expect(Self.streamFrames(try Self.written(channel)).count == 2)
    }

    @Test func theRequestHeadIsWhatHTTP1WouldCarry() throws {
        let block: HPACKHeaders = [":method": "POST", ":scheme": "https", ":path": "/x?y=1", ":authority": "svc.ns:8080",
                                   "cookie": "a=1", "accept": "*/*", "cookie": "b=2", "te": "trailers"]
        let head = try #require(DownstreamHTTP2Connection.requestHead(block, endStream: true))
        #expect(head.method == .POST)
        #expect(head.uri == "/x?y=1")
        #expect(head.version == .http2)
        #expect(head.headers.first(name: "host") == "svc.ns:8080")
        #expect(head.headers["cookie"] == ["a=1; b=2"])  // crumbs joined (RFC 9113 §8.2.3)
        #expect(head.headers.first(name: "content-length") == "0")  // a POST that ended with its head
        #expect(head.headers.first(name: "te") == "trailers")
        #expect(!head.headers.contains { $0.name.hasPrefix(":") })
        let get = try #require(DownstreamHTTP2Connection.requestHead([":method": "GET", ":scheme": "http", ":path": "/", ":authority": "a"],
                                                                     endStream: true))
        #expect(!get.headers.contains(name: "content-length"))
        let streaming = try #require(DownstreamHTTP2Connection.requestHead([":method": "POST", ":scheme": "http", ":path": "/", ":authority": "a"],
                                                                           endStream: false))
        #expect(!streaming.headers.contains(name: "content-length") && !streaming.headers.contains(name: "transfer-encoding"))
    }

    @Test func aResponseBlockIsLowerCaseWithoutHTTP1Framing() {
        let block = DownstreamHTTP2Stream.block(status: 503, ["Content-Type": "text/plain", "Transfer-Encoding": "chunked",
                                                               "Connection": "close", "x-envoy-overloaded": "true"])
        #expect(Array(block.map(\.name)) == [":status", "content-type", "x-envoy-overloaded"])
        #expect(block.first(name: ":status") == "503")
    }

    /// Stream windows are given back from the DATA that reaches the stream; the connection's
    /// from NIO's count of it, which its window events carry (here fired as NIO fires them).
    @Test func uploadedBytesAreGivenBackAtHalfTheWindow() throws {
        let channel = try Self.connection()
        try channel.writeInbound(Self.request(1, method: "POST", endStream: false))
        // A direct response does not wait for the body on HTTP/2, and ends with RST_STREAM
        // NO_ERROR. (No HTTP/2 handler here closes the stream after it: the body still reaches
        // the stream, as an upload in progress would.)
        let answer = Self.streamFrames(try Self.written(channel))
        #expect(answer.count == 3, "\(answer)")
        let chunk = ByteBuffer(repeating: 0x61, count: 16_384)
        var updates: [HTTP2StreamID: Int] = [:]
        for _ in 0..<(HTTP2Codec.window / 2 / chunk.readableBytes) {
            try channel.writeInbound(HTTP2Frame(streamID: 1, payload: .data(.init(data: .byteBuffer(chunk)))))
            for frame in try Self.written(channel) {
                if case .windowUpdate(let increment) = frame.payload { updates[frame.streamID, default: 0] += increment }
            }
        }
        #expect(updates[1] == HTTP2Codec.window / 2)
        #expect(updates[.rootStream] == nil)  // the connection follows NIO's count, not these frames
        channel.pipeline.fireUserInboundEventTriggered(
            NIOHTTP2WindowUpdatedEvent(streamID: .rootStream, inboundWindowSize: HTTP2Codec.window / 2 + 1, outboundWindowSize: 65_535))
        #expect(try Self.written(channel).isEmpty)
        channel.pipeline.fireUserInboundEventTriggered(
            NIOHTTP2WindowUpdatedEvent(streamID: .rootStream, inboundWindowSize: 100_000, outboundWindowSize: 65_535))
        guard case .windowUpdate(let increment)? = try Self.written(channel).first?.payload else {
            Issue.record("expected the connection's WINDOW_UPDATE")
            return
        }
        #expect(increment == HTTP2Codec.window - 100_000)
        // The last DATA ends the stream: its window is not given back (nothing more can come).
        try channel.writeInbound(HTTP2Frame(streamID: 1, payload: .data(.init(data: .byteBuffer(chunk), endStream: true))))
        let after = try Self.written(channel)
        #expect(!after.contains { if case .windowUpdate = $0.payload { $0.streamID == 1 } else { false } })
    }

    /// A client and the proxy's connection, each behind NIO's real HTTP/2 handler, bytes carried
    /// between them by `exchange`.
    struct WirePair {
        let client = EmbeddedChannel()
        let server: EmbeddedChannel

        init() throws {
            server = try DownstreamHTTP2Tests.connectionBehindNIO()
            try client.pipeline.syncOperations.addHandler(NIOHTTP2Handler(mode: .client, connectionConfiguration: .init(), streamConfiguration: .init()))
            try client.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 2)).wait()
            try exchange()
        }

        /// Carries what each side wrote to the other until neither has more to say.
        func exchange() throws {
            var moved = true
            while moved {
                moved = false
                for (from, to) in [(client, server), (server, client)] {
                    while let bytes = try from.readOutbound(as: ByteBuffer.self) {
                        try to.writeInbound(bytes)
                        to.pipeline.fireChannelReadComplete()
                        moved = true
                    }
                    to.embeddedEventLoop.run()  // the flush coalescer's turn
                }
            }
        }

        /// Frames the client has received since the last call.
        func received() throws -> [HTTP2Frame] {
            var frames: [HTTP2Frame] = []
            while let frame = try client.readInbound(as: HTTP2Frame.self) { frames.append(frame) }
            return frames
        }

        func send(_ frame: HTTP2Frame) throws {
            _ = try client.writeOutbound(frame)
        }
    }

    static func connectionBehindNIO() throws -> EmbeddedChannel {
        let manager = try DownstreamCodecTests.manager()
        let channel = EmbeddedChannel()
        let http = HTTPWorker(worker: Worker(index: 0, loop: channel.embeddedEventLoop), upstreamBindAddress: nil)
        DownstreamCodecTests.keepAlive.append(http)
        try DownstreamHTTP2.configure(channel.pipeline.syncOperations, http: http, manager: manager,
                                      connection: DownstreamConnectionInfo(channel: channel, security: nil))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        return channel
    }

    /// RFC 9113 §8.1: a response complete before its request may be followed by RST_STREAM
    /// NO_ERROR, which tells the client to stop sending the body without failing the response.
    @Test func anAnswerBeforeTheRequestEndsIsFollowedByANoErrorReset() throws {
        let wire = try WirePair()
        _ = try wire.received()
        try wire.send(Self.request(1, method: "POST", endStream: false))
        try wire.exchange()
        let frames = try wire.received().filter { $0.streamID == 1 }
        guard frames.count == 3, case .headers(let head) = frames[0].payload, case .data(let body) = frames[1].payload,
              case .rstStream(let code) = frames[2].payload else {
            Issue.record("expected HEADERS, DATA, RST_STREAM, got \(frames)")
            return
        }
        #expect(head.headers.first(name: ":status") == "200")
        #expect(body.endStream)
        #expect(code == .noError)
        // A request that ended first gets no reset.
        try wire.send(Self.request(3))
        try wire.exchange()
        #expect(try wire.received().filter { $0.streamID == 3 }.map { if case .rstStream = $0.payload { true } else { false } } == [false, false])
    }

    /// Body bytes that were on their way when the reset went out are dropped by NIO's handler
    /// (the stream is closed) but used the connection's window: it is given back all the same,
    /// so early answers to uploads cannot starve the connection.
    @Test func bytesSentToAResetStreamStillReturnTheConnectionWindow() throws {
        let wire = try WirePair()
        let chunk = ByteBuffer(repeating: 0x61, count: 16_384)
        var given = 0
        for index in 0..<12 {
            let id = HTTP2StreamID(2 * index + 1)
            try wire.send(Self.request(id, method: "POST", endStream: false))
            // 64 KiB the client sends before it hears the answer and the reset.
            for _ in 0..<4 { try wire.send(HTTP2Frame(streamID: id, payload: .data(.init(data: .byteBuffer(chunk))))) }
            try wire.exchange()
            for frame in try wire.received() where frame.streamID == .rootStream {
                if case .windowUpdate(let increment) = frame.payload { given += increment }
            }
        }
        // 12 × 64 KiB = 768 KiB went into reset streams: past half of the 1 MiB window, so
        // besides the opening update (+983,041) the connection got its window back.
        #expect(given > HTTP2Codec.window - 65_535, "connection window given back: \(given) bytes")
    }

    /// As NIO's HTTP/2 handler does: a frame that ends a stream whose client side has ended
    /// closes it inside the write, and the connection hears of it at once.
    final class ClosesStreamsInsideTheWrite: ChannelOutboundHandler {
        typealias OutboundIn = HTTP2Frame

        func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
            let frame = unwrapOutboundIn(data)
            context.write(data, promise: promise)
            let ends: Bool
            switch frame.payload {
            case .data(let data): ends = data.endStream
            case .headers(let headers): ends = headers.endStream
            default: ends = false
            }
            if ends { context.fireUserInboundEventTriggered(StreamClosedEvent(streamID: frame.streamID, reason: nil)) }
        }
    }

    /// The crash the demo's end-to-end test found: an answer written from outside the stream's
    /// own read (here a fault delay's timer; in the demo an upstream's response) closed the
    /// stream inside its last write, the connection dropped it, and the exchange then read the
    /// stream's TLS facts to record Istio's inbound metrics. The exchange keeps its stream.
    @Test func anAnswerFromATimerOutlivesItsStreamClosingInsideTheWrite() throws {
        var fault = Envoy_Extensions_Filters_Http_Fault_V3_HTTPFault()
        fault.delay.fixedDelay = Google_Protobuf_Duration(seconds: 1)
        fault.delay.percentage.numerator = 100
        let manager = try DownstreamCodecTests.manager({ manager in
            manager.routeConfig.virtualHosts[0].routes[0].route.cluster = "inbound|9080||"
            manager.routeConfig.virtualHosts[0].routes[0].typedPerFilterConfig["envoy.filters.http.fault"] = try Google_Protobuf_Any(message: fault)
            manager.httpFilters.insert(try DownstreamCodecTests.httpFilter("envoy.filters.http.fault", Envoy_Extensions_Filters_Http_Fault_V3_HTTPFault()), at: 0)
        }, listener: { listener in
            listener.trafficDirection = .inbound
            listener.filterChains[0].metadata.filterMetadata["istio.stats"] = Google_Protobuf_Struct()
        })
        let channel = EmbeddedChannel()
        let worker = Worker(index: 0, loop: channel.embeddedEventLoop, workload: IstioMetricsExchangeTests.local, nodeID: "sidecar~127.0.0.2~reviews-v1.default~x")
        let cluster = try IstioMetricsExchangeTests.fullCluster()  // admits no request: a 503 answered locally
        worker.snapshot = ProxySnapshot(version: 1, listeners: [:], routeTables: [:], clusters: [cluster.config.name: cluster])
        let http = HTTPWorker(worker: worker, upstreamBindAddress: nil)
        DownstreamCodecTests.keepAlive.append(http)
        try channel.pipeline.syncOperations.addHandler(ClosesStreamsInsideTheWrite())
        try channel.pipeline.syncOperations.addHandler(
            DownstreamHTTP2Connection(http: http, manager: manager, connection: DownstreamConnectionInfo(channel: channel, security: nil)))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        try channel.writeInbound(Self.request(1))
        #expect(Self.streamFrames(try Self.written(channel)).isEmpty)  // delayed
        channel.embeddedEventLoop.advanceTime(by: .seconds(2))
        let answer = Self.streamFrames(try Self.written(channel))
        guard case .headers(let head) = answer.first?.payload else {
            Issue.record("expected the answer's HEADERS, got \(answer)")
            return
        }
        #expect(head.headers.first(name: ":status") == "503")
        #expect(IstioMetricsExchangeTests.series(worker, code: "503")?["reporter"] == "destination")
    }

    @Test func drainSendsGoAwayNamingTheLastStreamAndClosesWhenItsStreamsAreDone() throws {
        let channel = try Self.connection()
        try channel.writeInbound(Self.request(1, method: "POST", endStream: false))
        try channel.writeInbound(Self.request(3, method: "POST", endStream: false))
        _ = try Self.written(channel)
        channel.pipeline.fireUserInboundEventTriggered(ConnectionDrain())
        let frames = try Self.written(channel)
        guard case .goAway(let lastStreamID, let errorCode, _) = frames.first?.payload else {
            Issue.record("expected GOAWAY, got \(frames)")
            return
        }
        #expect(lastStreamID == 3)
        #expect(errorCode == .noError)
        channel.pipeline.fireUserInboundEventTriggered(StreamClosedEvent(streamID: 1, reason: nil))
        channel.embeddedEventLoop.run()
        #expect(channel.isActive)  // stream 3 is still under way
        channel.pipeline.fireUserInboundEventTriggered(StreamClosedEvent(streamID: 3, reason: .cancel))
        try DownstreamDrainTests.expectPingThenClose(channel)
    }

    @Test func anIdleConnectionClosesRightAfterItsGoAway() throws {
        let channel = try Self.connection()
        channel.pipeline.fireUserInboundEventTriggered(ConnectionDrain())
        let frame = try #require(try channel.readOutbound(as: HTTP2Frame.self))
        guard case .goAway(let lastStreamID, _, _) = frame.payload else {
            Issue.record("expected GOAWAY, got \(frame.payload)")
            return
        }
        #expect(lastStreamID == 0)
        try DownstreamDrainTests.expectPingThenClose(channel)
    }
}
