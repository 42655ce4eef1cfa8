// One worker's HTTP upstream side: its connection pool, connecting, and requests waiting for a connection.

import NIOCore
import NIOHTTP1
import NIOPosix
import ProxyCore
import ProxyUpstream

/// Everything HTTP that one event loop owns. Connections are made on the worker's own loop and
/// reused only by it, so a request never hops threads.
final class HTTPWorker: @unchecked Sendable {  // confined to its worker's loop
    let worker: Worker
    let pool: ConnectionPool<UpstreamHTTPConnection>
    let upstreamBindAddress: SocketAddress?
    var requestIDs = RequestIDGenerator()
    /// Requests waiting for a connection because the cluster is at `max_connections`, by cluster.
    private var waiting: [ObjectIdentifier: CircularBuffer<HTTPExchange>] = [:]

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
        if let idle = pool.takeIdle(to: host.socketAddress), idle.cluster === cluster || idle.cluster.name == cluster.name {
            return .ready(idle)
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

    /// Takes a waiting exchange out of the queue (it gave up: timeout or downstream gone).
    func cancelWaiting(_ exchange: HTTPExchange, cluster: UpstreamCluster) {
        let key = ObjectIdentifier(cluster.resources)
        guard var queue = waiting[key], let index = queue.firstIndex(where: { $0 === exchange }) else { return }
        queue.remove(at: index)
        waiting[key] = queue
        cluster.resources.release(.pendingRequests)
    }

    private func connect(host: UpstreamHost, cluster: UpstreamCluster) -> EventLoopFuture<UpstreamHTTPConnection> {
        let loop = worker.loop
        var bootstrap = ClientBootstrap(group: loop)
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
        return bootstrap.channelInitializer { channel in
            channel.eventLoop.makeCompletedFuture {
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
