// Which connections an update drains: those whose filter chain or listener it changed or removed, none for a config that only re-sends the same listeners, and anything still open when the drain time ends is closed.

import EnvoyAPI
import NIOCore
import NIOEmbedded
import ProxyConfig
@testable import ProxyCore
import SwiftProtobuf
import Testing

/// Counts the drain events that reach a connection.
final class DrainRecorder: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    var drains = 0

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is ConnectionDrain { drains += 1 }
        context.fireUserInboundEventTriggered(event)
    }
}

@Suite struct ConnectionDrainTests {
    /// A listener with one TCP proxy chain per cluster, told apart by server name.
    static func listener(_ name: String = "db", clusters: [String], inspectsTLS: Bool = false) throws -> ListenerConfig {
        try ListenerConfig(proto: try listenerProto(name, clusters: clusters, inspectsTLS: inspectsTLS), limits: ConfigLimits())
    }

    static func listenerProto(_ name: String = "db", clusters: [String], inspectsTLS: Bool = false) throws -> Envoy_Config_Listener_V3_Listener {
        var proto = Envoy_Config_Listener_V3_Listener()
        proto.name = name
        proto.address.socketAddress.address = "127.0.0.1"
        proto.address.socketAddress.portValue = 9070
        if inspectsTLS {
            var inspector = Envoy_Config_Listener_V3_ListenerFilter()
            inspector.name = "envoy.filters.listener.tls_inspector"
            proto.listenerFilters = [inspector]
        }
        proto.filterChains = try clusters.map { cluster in
            var tcp = Envoy_Extensions_Filters_Network_TcpProxy_V3_TcpProxy()
            tcp.statPrefix = cluster
            tcp.cluster = cluster
            var filter = Envoy_Config_Listener_V3_Filter()
            filter.name = "envoy.filters.network.tcp_proxy"
            filter.typedConfig = try Google_Protobuf_Any(message: tcp)
            var chain = Envoy_Config_Listener_V3_FilterChain()
            chain.filterChainMatch.serverNames = ["\(cluster).example"]
            chain.filters = [filter]
            return chain
        }
        return proto
    }

    static func snapshot(_ listeners: [ListenerConfig]) -> ProxySnapshot {
        ProxySnapshot(version: 1, listeners: Dictionary(uniqueKeysWithValues: listeners.map { ($0.name, $0) }), routeTables: [:], clusters: [:])
    }

    /// A worker on an embedded loop with one open connection on each of `listener`'s chains.
    static func connections(on listener: ListenerConfig, worker: Worker, loop: EmbeddedEventLoop) throws -> [(EmbeddedChannel, DrainRecorder)] {
        try listener.filterChains.map { chain in
            let recorder = DrainRecorder()
            let channel = EmbeddedChannel(handler: recorder, loop: loop)
            try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
            worker.connections.add(channel, listener: listener, chain: chain)
            channel.closeFuture.whenComplete { _ in worker.connections.remove(channel) }
            return (channel, recorder)
        }
    }

    @Test func theSameListenersAgainDrainNothing() throws {
        let loop = EmbeddedEventLoop()
        let worker = Worker(index: 0, loop: loop, drainTime: .seconds(3))
        let open = try Self.connections(on: try Self.listener(clusters: ["a", "b"]), worker: worker, loop: loop)
        // Decoded anew, as a route or cluster update re-sends them: equal bytes, nothing drains.
        worker.publish(Self.snapshot([try Self.listener(clusters: ["a", "b"])]))
        loop.run()
        loop.advanceTime(by: .seconds(10))
        #expect(open.map(\.1.drains) == [0, 0])
        #expect(open.allSatisfy { $0.0.isActive })
        #expect(worker.stats.connectionsDrained == 0)
    }

    @Test func aChangedChainDrainsOnlyItsConnectionsThenClosesThemAtTheDrainTime() throws {
        let loop = EmbeddedEventLoop()
        let worker = Worker(index: 0, loop: loop, drainTime: .seconds(3))
        let open = try Self.connections(on: try Self.listener(clusters: ["a", "b"]), worker: worker, loop: loop)
        worker.publish(Self.snapshot([try Self.listener(clusters: ["a", "c"])]))
        loop.run()
        #expect(open.map(\.1.drains) == [0, 1])
        #expect(worker.stats.connectionsDrained == 1)
        // A connection that cannot be told (a TCP proxy) finishes when the drain time ends.
        loop.advanceTime(by: .milliseconds(2900))
        #expect(open[1].0.isActive)
        loop.advanceTime(by: .milliseconds(100))
        #expect(!open[1].0.isActive)
        #expect(open[0].0.isActive)
        // Told once: a later update does not drain it again or count it twice.
        worker.publish(Self.snapshot([try Self.listener(clusters: ["a", "d"])]))
        loop.run()
        #expect(open.map(\.1.drains) == [0, 1])
        #expect(worker.stats.connectionsDrained == 1)
    }

    @Test func aChangedOrRemovedListenerDrainsAllItsConnections() throws {
        let loop = EmbeddedEventLoop()
        let worker = Worker(index: 0, loop: loop, drainTime: .seconds(3))
        let db = try Self.connections(on: try Self.listener(clusters: ["a", "b"]), worker: worker, loop: loop)
        let web = try Self.connections(on: try Self.listener("web", clusters: ["w"]), worker: worker, loop: loop)
        // The same chains under a listener that now inspects TLS: the listener was replaced.
        worker.publish(Self.snapshot([try Self.listener(clusters: ["a", "b"], inspectsTLS: true), try Self.listener("web", clusters: ["w"])]))
        loop.run()
        #expect(db.map(\.1.drains) == [1, 1])
        #expect(web[0].1.drains == 0)
        worker.publish(Self.snapshot([try Self.listener(clusters: ["a", "b"], inspectsTLS: true)]))
        loop.run()
        #expect(web[0].1.drains == 1)
        #expect(worker.stats.connectionsDrained == 3)
    }

    @Test func drainAllReachesEveryConnectionAndClosedOnesAreForgotten() throws {
        let loop = EmbeddedEventLoop()
        let worker = Worker(index: 0, loop: loop, drainTime: .seconds(3))
        let open = try Self.connections(on: try Self.listener(clusters: ["a", "b", "c"]), worker: worker, loop: loop)
        try open[2].0.close().wait()
        loop.run()
        #expect(worker.connections.count == 2)
        worker.drainAll()
        loop.run()
        #expect(open.map(\.1.drains) == [1, 1, 0])
        loop.advanceTime(by: .seconds(3))
        #expect(worker.connections.count == 0)
    }

    @Test func aConnectionWhoseChainWasReplacedBeforeItWasRegisteredDrainsAtOnce() throws {
        let loop = EmbeddedEventLoop()
        let worker = Worker(index: 0, loop: loop, drainTime: .seconds(3))
        let old = try Self.listener(clusters: ["a"])
        worker.publish(Self.snapshot([try Self.listener(clusters: ["b"])]))
        loop.run()
        // Accepted under the old listener; its ClientHello arrived after the update.
        let recorder = DrainRecorder()
        let channel = EmbeddedChannel(handler: recorder, loop: loop)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        worker.register(channel, listener: old, chain: old.filterChains[0])
        #expect(recorder.drains == 1)
        // One whose chain is current is left alone.
        let current = try Self.listener(clusters: ["b"])
        let other = DrainRecorder()
        let kept = EmbeddedChannel(handler: other, loop: loop)
        try kept.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        worker.register(kept, listener: current, chain: current.filterChains[0])
        #expect(other.drains == 0)
    }
}
