// meshproxy put together: workers, listeners, the HTTP layer, the config store, the ADS stream, the admin port.

import EnvoyAPI
import Dispatch
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import NIOCore
import NIOPosix
import Telemetry
import ProxyConfig
import ProxyCore
import ProxyHTTP
import XDSClient

/// Runs the proxy until it is told to quit (admin `/quitquitquit`, SIGTERM, SIGINT).
public struct ProxyServer: Sendable {
    public var bootstrap: ProxyBootstrap
    public var concurrency: Int
    /// How long connections drained by a listener change may take to finish.
    public var drainTime: TimeAmount
    /// How long access-log lines may wait in a worker's buffer before they are written.
    public var accessLogFlushInterval: TimeAmount = .seconds(1)
    public var log: @Sendable (String) -> Void
    /// The embedded identity agent: keeps the workload's certificate (`default`) and the mesh's
    /// trust bundle (`ROOTCA`) current in the cache it is given, for as long as the proxy runs.
    /// Without one, a bootstrap with an `sds-grpc` cluster gets its secrets from the agent
    /// that cluster names (an SDS stream), as Envoy does.
    public var identity: (@Sendable (SecretCache) async throws -> Void)?
    /// The app's own metrics, merged into port 15020's scrape.
    public var appMetrics: AppMetricsTarget?

    public init(bootstrap: ProxyBootstrap, concurrency: Int, drainTime: TimeAmount = .seconds(45),
                identity: (@Sendable (SecretCache) async throws -> Void)? = nil, log: @escaping @Sendable (String) -> Void) {
        self.bootstrap = bootstrap
        self.concurrency = concurrency
        self.drainTime = drainTime
        self.identity = identity
        self.log = log
    }

    public func run() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: max(1, concurrency))
        let loops = Array(group.makeIterator())
        let secrets = SecretCache()
        let accessLogFiles = AccessLogFiles(log: log)
        let workload = bootstrap.workload
        let workers = loops.enumerated().map {
            Worker(index: $0.offset, loop: $0.element, secrets: secrets, drainTime: drainTime, accessLogFiles: accessLogFiles,
                   accessLogFlushInterval: accessLogFlushInterval, workload: workload, nodeID: bootstrap.node.id,
                   serviceCluster: bootstrap.node.cluster)
        }
        let balanced = BalancedEventLoopGroup(workers: workers, underlying: group)
        let installer = try HTTPFilterChainInstaller(workers: workers, upstreamBindAddress: bootstrap.upstreamBindAddress)
        let listenerSet = try ListenerSet(group: balanced, installer: installer, log: log)
        let (secretNames, secretNamesContinuation) = AsyncStream.makeStream(of: Set<String>.self, bufferingPolicy: .bufferingNewest(1))
        let sds = identity != nil ? nil : bootstrap.sdsAddress.map { address in
            SDSClient(address: address.client, node: bootstrap.node, names: secretNames,
                      apply: { SDSSecrets.apply($0, to: secrets) }, log: log)
        }
        let store = ProxyConfigStore(limits: bootstrap.limits, workers: workers, listenerSet: listenerSet, secrets: secrets,
                                     hasIdentity: identity != nil || sds != nil,
                                     secretNamesChanged: { secretNamesContinuation.yield($0) },
                                     upstreamBindAddress: try bootstrap.upstreamBindAddress.map { try SocketAddress(ipAddress: $0, port: 0) }, log: log)
        let sdsTask = sds.map { client in Task { await client.run() } }
        let identityTask = identity.map { agent in
            Task { [log] in
                do {
                    try await agent(secrets)
                } catch is CancellationError {
                } catch {
                    log("identity agent stopped: \(error)")
                }
            }
        }
        let (quitStream, quitContinuation) = AsyncStream.makeStream(of: Void.self)
        let admin = AdminServer(store: store, workers: workers, listenerSet: listenerSet, nodeID: bootstrap.node.id,
                                quit: { quitContinuation.yield() })
        var adminChannel: Channel?
        if let address = bootstrap.adminAddress {
            adminChannel = try await admin.bind(address, on: workers[0].loop).get()
            log("admin listening on \(address)")
        }
        // Istio's metrics ports on the admin address's host. A port that is taken is said and
        // left out: traffic does not depend on it.
        var metricsChannels: [Channel] = []
        if let address = bootstrap.adminAddress {
            for (port, bound) in MetricsPorts(admin: admin, app: appMetrics).bind(host: address.host, on: workers[0].loop) {
                do {
                    metricsChannels.append(try await bound.get())
                } catch {
                    log("metrics port \(address.host):\(port) not served: \(error)")
                }
            }
            if let appMetrics { log("merging the app's metrics from \(appMetrics) into \(address.host):\(MetricsPorts.mergedPort)/stats/prometheus") }
        }
        let signals = [SIGTERM, SIGINT].map { signalNumber -> DispatchSourceSignal in
            signal(signalNumber, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signalNumber)
            source.setEventHandler { quitContinuation.yield() }
            source.resume()
            return source
        }
        // Envoy names itself in `user_agent_name` whatever the bootstrap says; meshproxy does too,
        // so meshd can send it what stock Envoy lacks (Istio's TCP metadata exchange).
        var node = bootstrap.node
        node.userAgentName = "meshproxy"
        let ads = ADSClient(host: bootstrap.xdsAddress.host, port: bootstrap.xdsAddress.port, node: node,
                            wireProtocol: bootstrap.xdsProtocol == .delta ? .delta : .stateOfTheWorld,
                            apply: { store.apply($0, $1) }, log: log)
        let adsTask = Task { await ads.run() }
        for await _ in quitStream { break }
        log("stopping")
        adsTask.cancel()
        _ = await adsTask.result
        identityTask?.cancel()
        sdsTask?.cancel()
        store.stop()
        // Shutdown goes on past a step that fails, so the others still run; each failure is said.
        do {
            try await listenerSet.closeAll().get()
        } catch {
            log("stopping: closing listeners failed: \(error)")
        }
        installer.closeIdleConnections()
        // Lines still buffered on the workers are written before the process ends.
        for worker in workers {
            do {
                try await worker.loop.submit { worker.flushAccessLogs() }.get()
            } catch {
                log("stopping: flushing worker \(worker.index)'s access log failed: \(error)")
            }
        }
        accessLogFiles.waitForWrites()
        do {
            try await adminChannel?.close()
            for channel in metricsChannels { try await channel.close() }
        } catch {
            log("stopping: closing the admin and metrics listeners failed: \(error)")
        }
        signals.forEach { $0.cancel() }
        try await group.shutdownGracefully()
    }
}

extension ProxyBootstrap.SDSAddress {
    var client: SDSClient.Address {
        switch self {
        case .unix(let path): .unix(path: path)
        case .socket(let address): .tcp(host: address.host, port: address.port)
        }
    }
}
