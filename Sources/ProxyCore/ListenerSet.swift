// The proxy's listening sockets, kept in step with the listeners of the current snapshot.

import NIOCore
import NIOPosix
import ProxyConfig

/// Installs the handlers of a chosen filter chain on a new connection (the HTTP layer for an
/// HTTP connection manager; TCP proxying for a TCP proxy).
public protocol NetworkFilterInstaller: Sendable {
    func install(_ chain: FilterChainConfig, listener: ListenerConfig, on channel: Channel, worker: Worker) throws
}

/// Binds, rebinds and closes listeners as snapshots arrive. A listener whose address stays
/// keeps its socket (no connection is refused during an update) and new connections get the
/// new filter chains; a removed listener stops accepting and its open connections finish on
/// the configuration they have. Bind failures are reported, not fatal: other listeners serve.
public final class ListenerSet: @unchecked Sendable {
    private let group: BalancedEventLoopGroup
    private let installer: NetworkFilterInstaller
    private let log: @Sendable (String) -> Void
    /// Bound listeners by name; touched only on `controlLoop`.
    private var bound: [String: (address: SocketAddressConfig, channel: Channel)] = [:]
    private let controlLoop: EventLoop
    public private(set) var failures: [String: String] = [:]

    public init(group: BalancedEventLoopGroup, installer: NetworkFilterInstaller, log: @escaping @Sendable (String) -> Void) {
        self.group = group
        self.installer = installer
        self.log = log
        self.controlLoop = group.workers[0].loop
    }

    /// Brings the bound sockets in line with `listeners`; completes when every bind has been tried.
    public func update(_ listeners: [String: ListenerConfig]) -> EventLoopFuture<Void> {
        controlLoop.flatSubmit {
            var pending: [EventLoopFuture<Void>] = []
            for (name, entry) in self.bound where listeners[name]?.address != entry.address || listeners[name]?.bindToPort == false {
                entry.channel.close(promise: nil)
                self.bound[name] = nil
            }
            for (name, listener) in listeners where self.bound[name] == nil && listener.bindToPort {
                pending.append(self.bind(listener).map { channel in
                    self.bound[name] = (listener.address, channel)
                    self.failures[name] = nil
                }.recover { error in
                    self.failures[name] = "\(error)"
                    self.log("listener \(name): cannot bind \(listener.address): \(error)")
                })
            }
            return EventLoopFuture.andAllComplete(pending, on: self.controlLoop)
        }
    }

    private func bind(_ listener: ListenerConfig) -> EventLoopFuture<Channel> {
        let name = listener.name
        let group = self.group
        let installer = self.installer
        let log = self.log
        return ServerBootstrap(group: controlLoop, childGroup: group.underlyingGroup)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.maxMessagesPerRead, value: 16)
            .childChannelInitializer { channel in
                let worker = group.worker(for: channel.eventLoop)
                worker.activeConnections.wrappingAdd(1, ordering: .relaxed)
                channel.closeFuture.whenComplete { _ in
                    worker.activeConnections.wrappingSubtract(1, ordering: .relaxed)
                }
                worker.stats.connectionsAccepted += 1
                // The listener as the worker's snapshot has it now: updates reach new connections.
                guard let current = worker.snapshot.listeners[name] ?? nil,
                      let chain = current.filterChain(destinationPort: current.address.port, serverName: nil,
                                                      transportProtocol: "raw_buffer", applicationProtocols: []) else {
                    return channel.close()
                }
                do {
                    try installer.install(chain, listener: current, on: channel, worker: worker)
                    return channel.eventLoop.makeSucceededVoidFuture()
                } catch {
                    log("listener \(name): \(error)")
                    return channel.close()
                }
            }
            .bind(host: listener.address.host, port: listener.address.port)
    }

    /// Names and addresses of the listeners bound now.
    public func boundListeners() -> EventLoopFuture<[String: SocketAddressConfig]> {
        controlLoop.submit { self.bound.mapValues(\.address) }
    }

    public func closeAll() -> EventLoopFuture<Void> {
        controlLoop.flatSubmit {
            let channels = self.bound.values.map(\.channel)
            self.bound.removeAll()
            return EventLoopFuture.andAllComplete(channels.map { $0.close() }, on: self.controlLoop)
        }
    }
}
