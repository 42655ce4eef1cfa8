// meshproxy put together: workers, listeners, the HTTP layer, the config store, the ADS stream, the admin port.

import EnvoyAPI
import Foundation
import NIOCore
import NIOPosix
import ProxyConfig
import ProxyCore
import ProxyHTTP
import XDS

/// Runs the proxy until it is told to quit (admin `/quitquitquit`, SIGTERM, SIGINT).
public struct ProxyServer: Sendable {
    public var bootstrap: ProxyBootstrap
    public var concurrency: Int
    public var log: @Sendable (String) -> Void

    public init(bootstrap: ProxyBootstrap, concurrency: Int, log: @escaping @Sendable (String) -> Void) {
        self.bootstrap = bootstrap
        self.concurrency = concurrency
        self.log = log
    }

    public func run() async throws {
        guard bootstrap.xdsProtocol == .delta else {
            throw ProxyConfigError("bootstrap.dynamic_resources.ads_config.api_type",
                                   "meshproxy speaks delta xDS (DELTA_GRPC); state-of-the-world is not implemented yet (issue 6)")
        }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: max(1, concurrency))
        let loops = Array(group.makeIterator())
        let workers = loops.enumerated().map { Worker(index: $0.offset, loop: $0.element) }
        let balanced = BalancedEventLoopGroup(workers: workers, underlying: group)
        let installer = try HTTPFilterChainInstaller(workers: workers, upstreamBindAddress: bootstrap.upstreamBindAddress)
        let listenerSet = try ListenerSet(group: balanced, installer: installer, log: log)
        let store = ProxyConfigStore(limits: bootstrap.limits, workers: workers, listenerSet: listenerSet, log: log)
        let (quitStream, quitContinuation) = AsyncStream.makeStream(of: Void.self)
        let admin = AdminServer(store: store, workers: workers, listenerSet: listenerSet, nodeID: bootstrap.node.id,
                                quit: { quitContinuation.yield() })
        var adminChannel: Channel?
        if let address = bootstrap.adminAddress {
            adminChannel = try await admin.bind(address, on: workers[0].loop).get()
            log("admin listening on \(address)")
        }
        let signals = [SIGTERM, SIGINT].map { signalNumber -> DispatchSourceSignal in
            signal(signalNumber, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signalNumber)
            source.setEventHandler { quitContinuation.yield() }
            source.resume()
            return source
        }
        let ads = ADSClient(host: bootstrap.xdsAddress.host, port: bootstrap.xdsAddress.port, node: bootstrap.node,
                            apply: { store.apply($0, $1) }, log: log)
        let adsTask = Task { await ads.run() }
        for await _ in quitStream { break }
        log("stopping")
        adsTask.cancel()
        _ = await adsTask.result
        // Shutdown goes on past a step that fails, so the others still run; each failure is said.
        do {
            try await listenerSet.closeAll().get()
        } catch {
            log("stopping: closing listeners failed: \(error)")
        }
        installer.closeIdleConnections()
        do {
            try await adminChannel?.close()
        } catch {
            log("stopping: closing the admin listener failed: \(error)")
        }
        signals.forEach { $0.cancel() }
        try await group.shutdownGracefully()
    }
}
