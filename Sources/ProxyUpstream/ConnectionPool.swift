// One worker's upstream connections: idle keep-alive connections per host, reused without leaving the loop.

import NIOCore
import NIOPosix
import ProxyConfig

/// A connection the pool can hold: the protocol layer (HTTP/1.1 today) says whether it can
/// carry another request.
public protocol PooledConnection: AnyObject {
    var channel: Channel { get }
    var isReusable: Bool { get }
}

/// Idle connections by host, for one event loop only (no locks: every call is on `loop`).
/// A request takes an idle connection synchronously when there is one, so the common path
/// neither allocates a connection nor leaves the loop. Connections count against the
/// cluster's `max_connections` for as long as they are open.
public final class ConnectionPool<Connection: PooledConnection> {
    public let loop: EventLoop
    private var idle: [SocketAddress: [Connection]] = [:]
    /// Open connections per cluster on this worker (idle or busy).
    public private(set) var openConnections = 0

    public init(loop: EventLoop) {
        self.loop = loop
    }

    /// An idle, still-open connection to `host`, most recently used first (its socket is warm).
    public func takeIdle(to host: SocketAddress) -> Connection? {
        loop.preconditionInEventLoop()
        // In place: copying the stack out of the dictionary would copy (and retain) every idle
        // connection on every request. An emptied stack stays, ready for the next release.
        guard let index = idle.index(forKey: host) else { return nil }
        while let connection = idle.values[index].popLast() {
            if connection.channel.isActive { return connection }
        }
        return nil
    }

    /// Gives a connection back after a request; it is kept if it can carry another.
    public func release(_ connection: Connection, host: SocketAddress) {
        loop.preconditionInEventLoop()
        guard connection.isReusable, connection.channel.isActive else {
            connection.channel.close(promise: nil)
            return
        }
        idle[host, default: []].append(connection)
    }

    /// Forgets a connection that closed (idle or not).
    public func remove(_ connection: Connection, host: SocketAddress) {
        guard let slot = idle.index(forKey: host),
              let index = idle.values[slot].firstIndex(where: { $0 === connection }) else { return }
        idle.values[slot].remove(at: index)
    }

    public func opened() { openConnections += 1 }
    public func closed() { openConnections -= 1 }

    /// Closes every idle connection (the cluster went away, or the proxy is stopping).
    public func closeIdle() {
        let all = idle.values.flatMap { $0 }
        idle.removeAll()
        for connection in all { connection.channel.close(promise: nil) }
    }

    public var idleCount: Int { idle.values.reduce(0) { $0 + $1.count } }
}
