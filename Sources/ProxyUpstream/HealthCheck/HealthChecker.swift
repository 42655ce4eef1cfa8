// Active health checking: every endpoint of a cluster with `health_checks` is probed on its own timer, and fails or passes by Envoy's thresholds.

import NIOCore
import NIOPosix
import ProxyConfig
import Synchronization

/// Runs the clusters' health checks on one event loop (checks are a few small connections a
/// second; the workers' loops only read each host's flag). A host is left out of balancing
/// while it fails (`HostState.failedActiveHealthCheck`), which a new host does until its first
/// check passes. Targets are keyed by cluster and address, so a config or endpoint update that
/// keeps a host keeps its counters and timer.
public final class HealthChecker: @unchecked Sendable {  // all mutable state is confined to `loop`
    final class Target: @unchecked Sendable {  // confined to the checker's loop
        var host: UpstreamHost
        var successes = 0
        var failures = 0
        var passedOnce = false
        /// Its first check has finished (until then it counts in `unchecked`).
        var checked = false
        var timer: Scheduled<Void>?
        var running: HealthProbe?
        init(host: UpstreamHost) { self.host = host }
    }

    final class ClusterEntry {
        var config: HealthCheckConfig
        var cluster: UpstreamCluster
        var targets: [SocketAddressConfig: Target] = [:]
        init(config: HealthCheckConfig, cluster: UpstreamCluster) {
            self.config = config
            self.cluster = cluster
        }
    }

    private let loop: EventLoop
    private let upstreamBindAddress: SocketAddress?
    private let log: @Sendable (String) -> Void
    private var clusters: [String: ClusterEntry] = [:]
    private var stopped = false
    /// Hosts whose first check has not finished, plus updates not yet applied (the proxy is not
    /// LIVE before, as Envoy's clusters warm until their first health check round).
    private let unchecked = Atomic<Int>(0)

    public init(loop: EventLoop, upstreamBindAddress: SocketAddress?, log: @escaping @Sendable (String) -> Void) {
        self.loop = loop
        self.upstreamBindAddress = upstreamBindAddress
        self.log = log
    }

    /// True while some host has not had its first check.
    public var isWarming: Bool { unchecked.load(ordering: .relaxed) > 0 }

    /// The clusters now in force: checks start for new hosts, stop for removed ones, and follow
    /// changed settings at their next run.
    public func update(_ clusters: [String: UpstreamCluster]) {
        unchecked.wrappingAdd(1, ordering: .relaxed)
        loop.execute {
            self.apply(clusters)
            self.unchecked.wrappingSubtract(1, ordering: .relaxed)
        }
    }

    /// Stops every check; the future completes once none is left running.
    @discardableResult
    public func stop() -> EventLoopFuture<Void> {
        loop.submit {
            self.stopped = true
            for entry in self.clusters.values { entry.targets.values.forEach(self.retire) }
            self.clusters = [:]
        }
    }

    private func apply(_ current: [String: UpstreamCluster]) {
        guard !stopped else { return }
        for (name, entry) in clusters where current[name]?.config.healthCheck == nil {
            entry.targets.values.forEach(retire)
            // Checks removed from a cluster that stays: its hosts are no longer held back.
            if let cluster = current[name] {
                for level in cluster.levels { level.hosts.forEach { $0.state.failedActiveHealthCheck.store(false, ordering: .relaxed) } }
            }
            clusters[name] = nil
        }
        for (name, cluster) in current {
            guard let config = cluster.config.healthCheck else { continue }
            let entry: ClusterEntry
            if let existing = clusters[name] {
                entry = existing
                entry.config = config
                entry.cluster = cluster
            } else {
                entry = ClusterEntry(config: config, cluster: cluster)
                clusters[name] = entry
            }
            var seen: Set<SocketAddressConfig> = []
            for level in cluster.levels {
                for host in level.hosts {
                    seen.insert(host.address)
                    if let target = entry.targets[host.address] {
                        target.host = host  // the same HostState, carried over by the cluster
                        continue
                    }
                    let target = Target(host: host)
                    host.state.failedActiveHealthCheck.store(true, ordering: .relaxed)
                    unchecked.wrappingAdd(1, ordering: .relaxed)
                    entry.targets[host.address] = target
                    schedule(target, in: name, after: Self.random(upTo: config.initialJitter))
                }
            }
            for (address, target) in entry.targets where !seen.contains(address) {
                retire(target)
                entry.targets[address] = nil
            }
        }
    }

    private func retire(_ target: Target) {
        target.timer?.cancel()
        target.timer = nil
        target.running?.cancel()
        target.running = nil
        if !target.checked { unchecked.wrappingSubtract(1, ordering: .relaxed) }
    }

    private func schedule(_ target: Target, in cluster: String, after wait: Duration) {
        target.timer = loop.scheduleTask(in: TimeAmount(wait)) { [weak self, weak target] in
            guard let self, let target else { return }
            self.run(target, in: cluster)
        }
    }

    /// Checks every host now, once (tests: each call is exactly one more check per host); the
    /// future completes when all have finished. Hosts with a check under way are left to it.
    func checkAllNow() -> EventLoopFuture<Void> {
        loop.flatSubmit {
            var all: [EventLoopFuture<Void>] = []
            for (name, entry) in self.clusters {
                for target in entry.targets.values where target.running == nil {
                    target.timer?.cancel()
                    let done = self.loop.makePromise(of: Void.self)
                    self.run(target, in: name) { done.succeed() }
                    all.append(done.futureResult)
                }
            }
            return EventLoopFuture.andAllSucceed(all, on: self.loop)
        }
    }

    private func run(_ target: Target, in cluster: String, then: (() -> Void)? = nil) {
        guard let entry = clusters[cluster], entry.targets[target.host.address] === target else {
            then?()
            return
        }
        let config = entry.config
        let resources = entry.cluster.resources
        resources.healthCheckAttempts.wrappingAdd(1, ordering: .relaxed)
        var address = target.host.socketAddress
        if let port = config.alternatePort { address = (try? SocketAddress(ipAddress: target.host.address.host, port: port)) ?? address }
        let bind = entry.cluster.config.bindAddress.flatMap { try? SocketAddress(ipAddress: $0, port: 0) } ?? upstreamBindAddress
        let probe = HealthProbe(loop: loop, config: config, hostHeader: Self.hostHeader(config, cluster: cluster))
        target.running = probe
        probe.start(to: address, bind: bind) { [weak self, weak target] outcome in
            guard let self, let target, target.running === probe else { return }
            target.running = nil
            self.finished(target, in: cluster, outcome: outcome)
            then?()
        }
    }

    private func finished(_ target: Target, in cluster: String, outcome: HealthProbe.Outcome) {
        guard let entry = clusters[cluster], entry.targets[target.host.address] === target else { return }
        let config = entry.config
        let resources = entry.cluster.resources
        let state = target.host.state
        let wasFailing = state.failedActiveHealthCheck.load(ordering: .relaxed)
        if !target.checked {
            target.checked = true
            unchecked.wrappingSubtract(1, ordering: .relaxed)
        }
        var changed = false
        let immediate: Bool
        switch outcome {
        case .passed:
            resources.healthCheckSuccesses.wrappingAdd(1, ordering: .relaxed)
            target.successes += 1
            target.failures = 0
            // A host not yet passed needs one success; one that failed, `healthy_threshold`.
            if wasFailing && (!target.passedOnce || target.successes >= config.healthyThreshold) {
                state.failedActiveHealthCheck.store(false, ordering: .relaxed)
                changed = target.passedOnce
                if target.passedOnce { log("health check: cluster \(cluster) host \(target.host.address) is healthy again") }
            }
            target.passedOnce = true
            immediate = false
        case .failed(let reason, let network, let counted):
            resources.healthCheckFailures.wrappingAdd(1, ordering: .relaxed)
            if network { resources.healthCheckNetworkFailures.wrappingAdd(1, ordering: .relaxed) }
            target.failures += 1
            target.successes = 0
            immediate = !counted
            if !wasFailing && (immediate || target.failures >= config.unhealthyThreshold) {
                state.failedActiveHealthCheck.store(true, ordering: .relaxed)
                changed = true
                log("health check: cluster \(cluster) host \(target.host.address) is unhealthy: \(reason)")
            } else if !target.passedOnce && target.failures == 1 {
                log("health check: cluster \(cluster) host \(target.host.address) has not passed its first check: \(reason)")
            }
        }
        let failing = state.failedActiveHealthCheck.load(ordering: .relaxed)
        var wait: Duration
        let hadTraffic = entry.cluster.levels.contains { $0.hosts.contains { $0.state.hadTraffic.load(ordering: .relaxed) } }
        if !hadTraffic {
            wait = config.noTrafficInterval
        } else if changed {
            wait = failing ? config.unhealthyEdgeInterval : config.healthyEdgeInterval
        } else {
            wait = failing ? config.unhealthyInterval : config.interval
        }
        wait += Self.random(upTo: config.intervalJitter)
        if config.intervalJitterPercent > 0 { wait += Self.random(upTo: config.interval * config.intervalJitterPercent / 100) }
        schedule(target, in: cluster, after: wait)
    }

    /// Envoy's Host header for HTTP checks: the configured host, else the cluster's name.
    static func hostHeader(_ config: HealthCheckConfig, cluster: String) -> String {
        if case .http(let http) = config.probe, !http.host.isEmpty { return http.host }
        return cluster
    }

    static func random(upTo limit: Duration) -> Duration {
        guard limit > .zero else { return .zero }
        let nanoseconds = limit.components.seconds * 1_000_000_000 + limit.components.attoseconds / 1_000_000_000
        return .nanoseconds(Int64.random(in: 0...nanoseconds))
    }
}

extension TimeAmount {
    init(_ duration: Duration) {
        self = .nanoseconds(duration.components.seconds * 1_000_000_000 + duration.components.attoseconds / 1_000_000_000)
    }
}
