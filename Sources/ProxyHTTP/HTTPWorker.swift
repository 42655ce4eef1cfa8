// One worker's HTTP upstream side: its connection pool, connecting, and requests waiting for a connection.

import NIOCore
import NIOHTTP1
import NIOHTTP2
import NIOPosix
import ProxyCore
import ProxyUpstream
import Telemetry

/// Everything HTTP that one event loop owns. Connections are made on the worker's own loop and
/// reused only by it, so a request never hops threads.
final class HTTPWorker: @unchecked Sendable {  // confined to its worker's loop
    let worker: Worker
    let pool: ConnectionPool<UpstreamHTTPConnection>
    let upstreamBindAddress: SocketAddress?
    var requestIDs = RequestIDGenerator()
    /// This worker's HTTP/2 connection per cluster and upstream host (connected or connecting).
    private var http2Connections: [HTTP2Key: HTTP2Entry] = [:]

    private struct HTTP2Key: Hashable {
        let cluster: String
        let address: SocketAddress
    }

    private final class HTTP2Entry {
        let cluster: UpstreamCluster
        let host: UpstreamHost
        let attempt: EventLoopFuture<UpstreamHTTP2Connection>
        /// Set once connected.
        var connection: UpstreamHTTP2Connection?

        init(cluster: UpstreamCluster, host: UpstreamHost, attempt: EventLoopFuture<UpstreamHTTP2Connection>) {
            self.cluster = cluster
            self.host = host
            self.attempt = attempt
        }
    }
    /// Requests waiting for a connection because the cluster is at `max_connections`, by cluster.
    private var waiting: [ObjectIdentifier: CircularBuffer<HTTPExchange>] = [:]

    /// This worker's spans waiting for their collectors (made on first use).
    private(set) lazy var spanReports: SpanReports = {
        // The node ID's second field is the proxy's address (`sidecar~127.0.1.1~…`).
        let address = worker.nodeID.split(separator: "~", omittingEmptySubsequences: false).dropFirst().first.map(String.init)
        let ipv4 = address.flatMap { $0.contains(".") && !$0.contains(":") ? $0 : nil }
        return SpanReports(http: self, reporter: SpanReporterIdentity(serviceName: worker.serviceCluster, ipv4: ipv4))
    }()

    init(worker: Worker, upstreamBindAddress: SocketAddress?) {
        self.worker = worker
        self.pool = ConnectionPool(loop: worker.loop)
        self.upstreamBindAddress = upstreamBindAddress
    }

    enum Acquired {
        case ready(UpstreamHTTPConnection)
        case connecting(EventLoopFuture<UpstreamHTTPConnection>)
        /// Queued as a pending request; the exchange is called back when a connection frees up.
        case pending
        case overflow
    }

    func acquire(host: UpstreamHost, cluster: UpstreamCluster, for exchange: HTTPExchange?) -> Acquired {
        if cluster.config.upstreamHTTP2 { return acquireStream(host: host, cluster: cluster) }
        if let idle = pool.takeIdle(to: host.socketAddress) {
            if Self.sameTransport(idle.cluster, idle.host, as: cluster, host) { return .ready(idle) }
            idle.channel.close(promise: nil)  // made under other settings: closing it frees its slot
        }
        let limits = cluster.config.thresholds
        if cluster.resources.tryAcquire(.connections, limit: limits.maxConnections) {
            return .connecting(connect(host: host, cluster: cluster))
        }
        if let exchange, cluster.resources.tryAcquire(.pendingRequests, limit: limits.maxPendingRequests) {
            waiting[ObjectIdentifier(cluster.resources), default: []].append(exchange)
            return .pending
        }
        return .overflow
    }

    /// An idle connection made for an earlier version of `cluster` may carry this request if it is
    /// the same cluster with the same transport: an endpoint update keeps connections, a change
    /// of TLS (a new PeerAuthentication or DestinationRule) does not, as Envoy drains its pools.
    private static func sameTransport(_ made: UpstreamCluster, _ madeHost: UpstreamHost, as cluster: UpstreamCluster, _ host: UpstreamHost) -> Bool {
        made === cluster
            || (made.name == cluster.name
                && made.config.tls(forEndpointTLSMode: madeHost.tlsMode) === cluster.config.tls(forEndpointTLSMode: host.tlsMode))
    }

    /// Takes a waiting exchange out of the queue (it gave up: timeout or downstream gone).
    func cancelWaiting(_ exchange: HTTPExchange, cluster: UpstreamCluster) {
        let key = ObjectIdentifier(cluster.resources)
        guard var queue = waiting[key], let index = queue.firstIndex(where: { $0 === exchange }) else { return }
        queue.remove(at: index)
        waiting[key] = queue
        cluster.resources.release(.pendingRequests)
    }

    /// A client bootstrap on this worker's loop with the cluster's connect timeout and bind address.
    private func bootstrap(_ cluster: UpstreamCluster) -> ClientBootstrap {
        var bootstrap = ClientBootstrap(group: worker.loop)
            .connectTimeout(TimeAmount.nanoseconds(Int64(cluster.config.connectTimeout.components.seconds) * 1_000_000_000
                                                    + cluster.config.connectTimeout.components.attoseconds / 1_000_000_000))
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelOption(.maxMessagesPerRead, value: 16)
        if let own = cluster.config.bindAddress {
            // Validated as an IP literal when the cluster was decoded.
            guard let bind = try? SocketAddress(ipAddress: own, port: 0) else {
                preconditionFailure("cluster \(cluster.name): bind address \(own) passed validation but does not parse")
            }
            bootstrap = bootstrap.bind(to: bind)
        } else if let bind = upstreamBindAddress {
            bootstrap = bootstrap.bind(to: bind)
        }
        worker.stats.upstreamConnectionsOpened += 1
        return bootstrap
    }

    /// TLS first on a new upstream connection when the endpoint's transport socket asks for it
    /// (auto-mTLS: Istio's `tlsMode: istio` endpoints); requests wait inside it for the handshake.
    private func addTLS(to channel: Channel, host: UpstreamHost, cluster: UpstreamCluster) throws {
        guard let tls = cluster.config.tls(forEndpointTLSMode: host.tlsMode) else { return }
        try channel.pipeline.syncOperations.addHandler(try worker.tls.clientHandler(tls))
    }

    private func connect(host: UpstreamHost, cluster: UpstreamCluster) -> EventLoopFuture<UpstreamHTTPConnection> {
        bootstrap(cluster).channelInitializer { channel in
            channel.eventLoop.makeCompletedFuture {
                try self.addTLS(to: channel, host: host, cluster: cluster)
                // Bytes after an accepted upgrade's 101 are handed on when the decoder comes off.
                try channel.pipeline.syncOperations.addHTTPClientHandlers(
                    leftOverBytesStrategy: .forwardBytes, enableOutboundHeaderValidation: false)
                let connection = UpstreamHTTPConnection(channel: channel, host: host, cluster: cluster, http: self)
                try channel.pipeline.syncOperations.addHandler(connection)
            }
        }
        .connect(to: host.socketAddress)
        .flatMapThrowing { channel in
            try channel.pipeline.syncOperations.handler(type: UpstreamHTTPConnection.self)
        }
        .flatMapErrorThrowing { error in
            cluster.resources.release(.connections)
            self.worker.stats.upstreamConnectFailures += 1
            self.wakeWaiter(cluster)
            throw error
        }
    }

    // MARK: - HTTP/2 upstreams

    /// A new stream on this worker's HTTP/2 connection to `host`, connecting first if there is
    /// none. Requests that arrive while it connects share the one connection attempt.
    private func acquireStream(host: UpstreamHost, cluster: UpstreamCluster) -> Acquired {
        let key = HTTP2Key(cluster: cluster.name, address: host.socketAddress)
        if let existing = http2Connections[key] {
            if Self.sameTransport(existing.cluster, existing.host, as: cluster, host) {
                return .connecting(stream(when: existing.attempt))
            }
            // Made under other TLS settings: it finishes its streams and closes; new ones go on a
            // new connection.
            http2Connections[key] = nil
            existing.attempt.whenSuccess { $0.channel.pipeline.fireUserInboundEventTriggered(ConnectionDrain()) }
        }
        guard cluster.resources.tryAcquire(.connections, limit: cluster.config.thresholds.maxConnections) else { return .overflow }
        let attempt = connectHTTP2(host: host, cluster: cluster)
        let entry = HTTP2Entry(cluster: cluster, host: host, attempt: attempt)
        http2Connections[key] = entry
        attempt.assumeIsolated().whenComplete { result in
            switch result {
            case .success(let connection): entry.connection = connection
            case .failure: self.forgetHTTP2(key, entry: entry)
            }
        }
        return .connecting(stream(when: attempt))
    }

    private func connectHTTP2(host: UpstreamHost, cluster: UpstreamCluster) -> EventLoopFuture<UpstreamHTTP2Connection> {
        let key = HTTP2Key(cluster: cluster.name, address: host.socketAddress)
        return bootstrap(cluster).channelInitializer { channel in
            channel.eventLoop.makeCompletedFuture {
                try self.addTLS(to: channel, host: host, cluster: cluster)
                let drain = HTTP2ConnectionDrain()
                try channel.pipeline.syncOperations.addHandler(FlushCoalescer())
                let multiplexer = try channel.pipeline.syncOperations.configureHTTP2Pipeline(
                    mode: .client, connectionConfiguration: HTTP2Codec.connection(), streamConfiguration: HTTP2Codec.stream(),
                    streamDelegate: drain
                ) { stream in stream.close() }  // servers do not open streams to us (push is off)
                try channel.pipeline.syncOperations.addHandler(
                    UpstreamHTTP2Connection(channel: channel, multiplexer: multiplexer, host: host, cluster: cluster))
                try channel.pipeline.syncOperations.addHandler(drain)
            }
        }
        .connect(to: host.socketAddress)
        .flatMapThrowing { channel in
            try channel.pipeline.syncOperations.handler(type: UpstreamHTTP2Connection.self)
        }
        .assumeIsolated()
        .always { result in
            guard case .success(let connection) = result else {
                cluster.resources.release(.connections)
                self.worker.stats.upstreamConnectFailures += 1
                return
            }
            // After GOAWAY the connection finishes its streams but takes no new ones.
            connection.onGoAway = { self.forgetHTTP2(key, connection: connection) }
            connection.channel.closeFuture.assumeIsolated().whenComplete { _ in
                cluster.resources.release(.connections)
                self.forgetHTTP2(key, connection: connection)
            }
        }
        .nonisolated()
    }

    /// Forgets the HTTP/2 entry for `key` if it is this connection's (a newer one may have replaced it).
    private func forgetHTTP2(_ key: HTTP2Key, connection: UpstreamHTTP2Connection) {
        if let entry = http2Connections[key], entry.connection === connection { http2Connections[key] = nil }
    }

    private func forgetHTTP2(_ key: HTTP2Key, entry: HTTP2Entry) {
        if http2Connections[key] === entry { http2Connections[key] = nil }
    }

    /// A stream on the connection `attempt` makes, once it is made.
    private func stream(when attempt: EventLoopFuture<UpstreamHTTP2Connection>) -> EventLoopFuture<UpstreamHTTPConnection> {
        let promise = worker.loop.makePromise(of: UpstreamHTTPConnection.self)
        attempt.assumeIsolated().whenComplete { result in
            switch result {
            case .success(let connection): self.openStream(on: connection, promise: promise)
            case .failure(let error): promise.fail(error)
            }
        }
        return promise.futureResult
    }

    private func openStream(on connection: UpstreamHTTP2Connection, promise: EventLoopPromise<UpstreamHTTPConnection>) {
        let created = worker.loop.makePromise(of: Channel.self)
        connection.multiplexer.createStreamChannel(promise: created) { [self, host = connection.host, cluster = connection.cluster] stream in
            stream.eventLoop.makeCompletedFuture {
                try stream.pipeline.syncOperations.addHandler(HTTP2FramePayloadToHTTP1ClientCodec(httpProtocol: .http))
                try stream.pipeline.syncOperations.addHandler(
                    UpstreamHTTPConnection(channel: stream, host: host, cluster: cluster, http: self, isStream: true))
            }
        }
        created.futureResult.assumeIsolated().whenComplete { result in
            do {
                let stream = try result.get()
                promise.assumeIsolated().succeed(try stream.pipeline.syncOperations.handler(type: UpstreamHTTPConnection.self))
            } catch {
                promise.fail(error)
            }
        }
    }

    /// A stream ended: nothing to pool; a request waiting for the cluster may go.
    func streamClosed(_ stream: UpstreamHTTPConnection) {
        wakeWaiter(stream.cluster)
    }

    /// A connection finished a request: back to the pool, or closed; a waiting request may go.
    func release(_ connection: UpstreamHTTPConnection) {
        connection.exchange = nil
        pool.release(connection, host: connection.host.socketAddress)
        wakeWaiter(connection.cluster)
    }

    func connectionClosed(_ connection: UpstreamHTTPConnection) {
        pool.remove(connection, host: connection.host.socketAddress)
        connection.cluster.resources.release(.connections)
        wakeWaiter(connection.cluster)
    }

    private func wakeWaiter(_ cluster: UpstreamCluster) {
        let key = ObjectIdentifier(cluster.resources)
        guard var queue = waiting[key], let next = queue.popFirst() else { return }
        waiting[key] = queue.isEmpty ? nil : queue
        cluster.resources.release(.pendingRequests)
        // Not re-entrantly: the connection that freed the slot is still finishing its own work.
        worker.loop.execute { next.connectionSlotFreed() }
    }
}
