// The TCP proxy between real sockets on loopback: bytes both ways, half-close passed through, and no upstream means a prompt close.

import EnvoyAPI
import Glibc
import NIOCore
import NIOPosix
@testable import ProxyConfig
@testable import ProxyCore
import ProxyUpstream
import SwiftProtobuf
import Synchronization
import Telemetry
import Testing

/// An upstream that echoes what it reads and, when the client half-closes, answers "bye" and
/// half-closes too: the exchange only completes if FINs cross the proxy in both directions.
final class HalfCloseEcho: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        context.writeAndFlush(data, promise: nil)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard case ChannelEvent.inputClosed = event else { return }
        context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: "bye")), promise: nil)
        context.close(mode: .output, promise: nil)
    }
}

@Suite struct TCPProxyTests {
    static func cluster(port: Int) throws -> UpstreamCluster {
        var proto = Envoy_Config_Cluster_V3_Cluster()
        proto.name = "db"
        proto.type = .static
        proto.connectTimeout = .init(seconds: 1)
        var endpoint = Envoy_Config_Endpoint_V3_LbEndpoint()
        endpoint.endpoint.address.socketAddress.address = "127.0.0.1"
        endpoint.endpoint.address.socketAddress.portValue = UInt32(port)
        var locality = Envoy_Config_Endpoint_V3_LocalityLbEndpoints()
        locality.lbEndpoints = [endpoint]
        proto.loadAssignment.clusterName = "db"
        proto.loadAssignment.endpoints = [locality]
        let config = try ClusterConfig(proto: proto, limits: ConfigLimits())
        return UpstreamCluster(config: config, assignment: try LoadAssignment(proto: proto.loadAssignment), previous: nil)
    }

    /// An upstream that echoes what it reads and says "bye" when the client half-closes.
    static func echoUpstream(group: EventLoopGroup) throws -> Channel {
        try ServerBootstrap(group: group)
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(HalfCloseEcho()) }
            }
            .bind(host: "127.0.0.1", port: 0).wait()
    }

    /// A proxy listener on one worker whose snapshot has `clusters`; returns its port.
    /// `accepted` sees each client connection the proxy takes.
    static func proxy(to clusterName: String, clusters: [String: UpstreamCluster], group: EventLoopGroup,
                      istioMetrics: IstioMetricsSettings? = nil,
                      accepted: @escaping @Sendable (Channel) -> Void = { _ in }) throws -> (Channel, Worker) {
        let loop = group.next()
        let worker = Worker(index: 0, loop: loop)
        try loop.submit { worker.snapshot = ProxySnapshot(version: 1, listeners: [:], routeTables: [:], clusters: clusters) }.wait()
        var proto = Envoy_Extensions_Filters_Network_TcpProxy_V3_TcpProxy()
        proto.statPrefix = "db"
        proto.cluster = clusterName
        let config = try TCPProxyConfig(proto: proto, istioMetrics: istioMetrics, limits: ConfigLimits(), at: "test")
        let server = try ServerBootstrap(group: loop)
            .childChannelInitializer { channel in
                accepted(channel)
                return channel.eventLoop.makeCompletedFuture {
                    try TCPProxySession.install(config, on: channel, worker: worker, upstreamBindAddress: nil)
                }
            }
            .bind(host: "127.0.0.1", port: 0).wait()
        return (server, worker)
    }

    /// A blocking client socket with a 5 s receive bound: sends `message`, half-closes, reads to EOF.
    static func exchange(port: Int, message: String) throws -> String {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { throw IOError(errnoCode: errno, reason: "connect") }
        if !message.isEmpty { _ = message.withCString { send(fd, $0, strlen($0), 0) } }
        shutdown(fd, Int32(SHUT_WR))
        var received: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = recv(fd, &chunk, chunk.count, 0)
            // EOF, or a reset (the proxy closed with our bytes unread): either way, closed.
            if count == 0 || (count < 0 && errno == ECONNRESET) { break }
            guard count > 0 else { throw IOError(errnoCode: errno, reason: "recv (no EOF within 5 s?)") }
            received += chunk[0..<count]
        }
        return String(decoding: received, as: UTF8.self)
    }

    @Test func bytesAndHalfClosesCrossTheProxyBothWays() throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { try? group.syncShutdownGracefully() }
        let upstream = try Self.echoUpstream(group: group)
        let cluster = try Self.cluster(port: upstream.localAddress!.port!)
        let (proxy, worker) = try Self.proxy(to: "db", clusters: ["db": cluster], group: group)
        let big = String(repeating: "0123456789", count: 100_000)
        #expect(try Self.exchange(port: proxy.localAddress!.port!, message: "hello") == "hellobye")
        #expect(try Self.exchange(port: proxy.localAddress!.port!, message: big) == big + "bye")
        let stats = try group.next().submit { worker.stats }.wait()
        #expect(stats.tcpConnections == 2)
        // Both sessions ended: the cluster's connection slots were given back.
        #expect(cluster.resources.current(.connections) == 0)
    }

    @Test func noClusterOrNoUpstreamClosesTheClientPromptly() throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { try? group.syncShutdownGracefully() }
        // A port nothing listens on: bind one, note it, close it.
        let gone = try ServerBootstrap(group: group).bind(host: "127.0.0.1", port: 0).wait()
        let deadPort = gone.localAddress!.port!
        try gone.close().wait()
        let (proxy, worker) = try Self.proxy(to: "db", clusters: ["db": try Self.cluster(port: deadPort)], group: group)
        #expect(try Self.exchange(port: proxy.localAddress!.port!, message: "hello") == "")
        let (orphan, orphanWorker) = try Self.proxy(to: "missing", clusters: [:], group: group)
        #expect(try Self.exchange(port: orphan.localAddress!.port!, message: "hello") == "")
        #expect(try group.next().submit { worker.stats.upstreamConnectFailures }.wait() == 1)
        #expect(try group.next().submit { orphanWorker.stats.tcpNoCluster }.wait() == 1)
    }

    /// Istio's TCP metrics count each connection opened and closed and the bytes each way
    /// (sent: to the client), in one series per peer and service.
    @Test func istioTCPMetricsCountConnectionsAndBytes() throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { try? group.syncShutdownGracefully() }
        let upstream = try Self.echoUpstream(group: group)
        let clients = Mutex<[Channel]>([])
        let (proxy, worker) = try Self.proxy(to: "db", clusters: ["db": try Self.cluster(port: upstream.localAddress!.port!)], group: group,
                                             istioMetrics: IstioMetricsSettings(reporter: .source),
                                             accepted: { channel in clients.withLock { $0.append(channel) } })
        let big = String(repeating: "0123456789", count: 10_000)
        #expect(try Self.exchange(port: proxy.localAddress!.port!, message: "hello") == "hellobye")
        #expect(try Self.exchange(port: proxy.localAddress!.port!, message: big) == big + "bye")
        // The proxy's side of each connection closes just after its client saw EOF; the session
        // records the close before the channel closes. Each close is awaited for 5 s at most.
        let accepted = clients.withLock { $0 }
        #expect(accepted.count == 2)
        for channel in accepted {
            let closed = channel.eventLoop.makePromise(of: Void.self)
            let timeout = channel.eventLoop.scheduleTask(in: .seconds(5)) { closed.fail(ChannelError.ioOnClosedChannel) }
            channel.closeFuture.whenComplete { _ in
                timeout.cancel()
                closed.succeed()
            }
            try closed.futureResult.wait()
        }
        let connections = try group.next().submit { worker.istioMetrics.snapshot().connections }.wait()
        #expect(connections.count == 1)
        let series = try #require(connections.first)
        let labels = Dictionary(uniqueKeysWithValues: zip(IstioSeries.connectionLabels, series.key.values))
        #expect(labels["reporter"] == "source" && labels["request_protocol"] == "tcp" && labels["response_flags"] == "-")
        #expect(series.value.opened == 2 && series.value.closed == 2)
        #expect(series.value.receivedBytes == UInt64(5 + big.utf8.count))
        #expect(series.value.sentBytes == UInt64(8 + big.utf8.count + 3))
    }
}
