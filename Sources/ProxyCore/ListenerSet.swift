// The proxy's listening sockets, kept in step with the listeners of the current snapshot.

import NIOCore
import NIOPosix
import ProxyConfig
import Telemetry

/// Installs the handlers of a chosen filter chain on a new connection (the HTTP layer for an
/// HTTP connection manager; TCP proxying for a TCP proxy).
public protocol NetworkFilterInstaller: Sendable {
    /// `connection` is what the listener knows of it: addresses, ID, its TLS (nil on a plaintext
    /// chain) and where an iptables-redirected connection was going.
    func install(_ chain: FilterChainConfig, listener: ListenerConfig, on channel: Channel, worker: Worker,
                 connection: DownstreamConnectionInfo) throws
}

/// Binds, rebinds and closes listeners as snapshots arrive. A listener whose address stays
/// keeps its socket (no connection is refused during an update) and new connections get the
/// new filter chains; a removed listener stops accepting and its open connections finish on
/// the configuration they have. Bind failures are reported, not fatal: other listeners serve.
public final class ListenerSet: @unchecked Sendable {
    private let group: BalancedEventLoopGroup
    private let installer: NetworkFilterInstaller
    private let log: @Sendable (String) -> Void
    /// Bound listeners by name (their listening sockets); touched only on `controlLoop`.
    private var bound: [String: (address: SocketAddressConfig, fd: Int32)] = [:]
    private let acceptor: ConnectionAcceptor
    private let controlLoop: EventLoop
    public private(set) var failures: [String: String] = [:]

    public init(group: BalancedEventLoopGroup, installer: NetworkFilterInstaller, log: @escaping @Sendable (String) -> Void) throws {
        self.acceptor = try ConnectionAcceptor()
        self.group = group
        self.installer = installer
        self.log = log
        self.controlLoop = group.workers[0].loop
    }

    /// Brings the bound sockets in line with `listeners`; completes when every bind has been tried.
    public func update(_ listeners: [String: ListenerConfig]) -> EventLoopFuture<Void> {
        controlLoop.flatSubmit {
            for (name, entry) in self.bound where listeners[name]?.address != entry.address || listeners[name]?.bindToPort == false {
                self.acceptor.remove(entry.fd)
                self.bound[name] = nil
            }
            for (name, listener) in listeners where self.bound[name] == nil && listener.bindToPort {
                do {
                    let fd = try ConnectionAcceptor.listen(host: listener.address.host, port: listener.address.port)
                    self.bound[name] = (listener.address, fd)
                    self.failures[name] = nil
                    self.acceptor.add(fd) { [self] connection in self.accepted(connection, listener: name) }
                } catch {
                    self.failures[name] = "\(error)"
                    self.log("listener \(name): cannot bind \(listener.address): \(error)")
                }
            }
            return self.controlLoop.makeSucceededVoidFuture()
        }
    }

    /// A connection accepted on `listener`: onto the least-loaded worker, then its filter chain.
    private func accepted(_ socket: Int32, listener name: String) {
        let loop = group.next()  // counts the connection against the worker it chose
        let group = self.group
        let installer = self.installer
        let log = self.log
        let registered = ClientBootstrap(group: loop)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelOption(.maxMessagesPerRead, value: 16)
            .channelInitializer { channel in
                let worker = group.worker(for: channel.eventLoop)
                channel.closeFuture.whenComplete { _ in
                    worker.activeConnections.wrappingSubtract(1, ordering: .relaxed)
                    worker.connections.remove(channel)
                }
                worker.stats.connectionsAccepted += 1
                // The listener as the worker's snapshot has it now: updates reach new connections.
                guard var current = worker.snapshot.listeners[name] else { return channel.close() }
                var originalDestination: SocketAddress?
                if current.restoresOriginalDestination {
                    originalDestination = OriginalDestination.of(socket)
                    // Envoy's hand-off: a capture listener gives the connection to the listener
                    // of its original destination, whose listener filters and chains then apply.
                    if current.useOriginalDestination, let destination = originalDestination,
                       let target = worker.snapshot.listener(handling: destination) {
                        if target.name != current.name { worker.stats.originalDestinationHandoffs += 1 }
                        current = target
                    }
                }
                do {
                    if current.inspectsTLS {
                        try channel.pipeline.syncOperations.addHandler(TLSInspector { [current] hello, _ in
                            try Self.start(current, hello: hello, on: channel, worker: worker, installer: installer,
                                           originalDestination: originalDestination)
                        })
                    } else {
                        try Self.start(current, hello: .plaintext, on: channel, worker: worker, installer: installer,
                                       originalDestination: originalDestination)
                    }
                    return channel.eventLoop.makeSucceededVoidFuture()
                } catch {
                    log("listener \(name): \(error)")
                    return channel.close()
                }
            }
            .withConnectedSocket(socket)
        registered.whenFailure { error in
            group.worker(for: loop).activeConnections.wrappingSubtract(1, ordering: .relaxed)
            log("listener \(name): could not take a connection: \(error)")
        }
    }

    /// The connection's filter chain by what its first bytes said; TLS terminated here when
    /// the chain has a transport socket; then the chain's network filter. The connection is
    /// registered with the chain that took it, so an update that removes the chain drains it.
    /// One that matches no chain is counted and closed. The listener's own access logs, as
    /// Envoy's, see every connection: one that no chain took (flag NR) at once, the others when
    /// they close (Istio filters them to NR only).
    static func start(_ listener: ListenerConfig, hello: ClientHello, on channel: Channel, worker: Worker,
                      installer: NetworkFilterInstaller, originalDestination: SocketAddress?) throws {
        let destinationPort = originalDestination?.port ?? listener.address.port
        guard let chain = listener.filterChain(destinationPort: destinationPort, serverName: hello.serverName,
                                               transportProtocol: hello.transportProtocol,
                                               applicationProtocols: hello.applicationProtocols) else {
            worker.stats.noFilterChainMatch += 1
            if !listener.accessLogs.isEmpty {
                var record = AccessLogRecord(startTime: WallClock.nowMicroseconds())
                DownstreamConnectionInfo(channel: channel, security: nil, originalDestination: originalDestination).fill(&record)
                record.requestedServerName = hello.serverName
                record.responseFlags = .noRouteFound
                record.responseCodeDetails = "filter_chain_not_found"
                record.duration = 0
                worker.log(record, to: listener.accessLogs)
            }
            channel.close(promise: nil)
            return
        }
        var security: ConnectionSecurity?
        if let tls = chain.tls {
            let established = ConnectionSecurity()
            established.requestedServerName = hello.serverName
            do {
                try channel.pipeline.syncOperations.addHandler(try worker.tls.serverHandler(tls, security: established))
                try channel.pipeline.syncOperations.addHandler(TLSHandshakeCounter(worker: worker, security: established))
            } catch {
                worker.stats.tlsHandshakeErrors += 1
                throw error
            }
            security = established
        }
        let connection = DownstreamConnectionInfo(channel: channel, security: security, originalDestination: originalDestination)
        try installer.install(chain, listener: listener, on: channel, worker: worker, connection: connection)
        if !listener.accessLogs.isEmpty {
            var record = AccessLogRecord(startTime: WallClock.nowMicroseconds())
            record.requestedServerName = hello.serverName
            let started = NIODeadline.now()
            channel.closeFuture.assumeIsolated().whenComplete { _ in
                connection.fill(&record)
                record.duration = (NIODeadline.now() - started).nanoseconds
                worker.log(record, to: listener.accessLogs)
            }
        }
        // Not yet active when called from the channel initializer; the close callback set there
        // removes it again.
        worker.register(channel, listener: listener, chain: chain)
    }

    /// Names and addresses of the listeners bound now.
    public func boundListeners() -> EventLoopFuture<[String: SocketAddressConfig]> {
        controlLoop.submit { self.bound.mapValues(\.address) }
    }

    public func closeAll() -> EventLoopFuture<Void> {
        controlLoop.flatSubmit {
            for entry in self.bound.values { self.acceptor.remove(entry.fd) }
            self.bound.removeAll()
            return self.controlLoop.makeSucceededVoidFuture()
        }
    }
}
