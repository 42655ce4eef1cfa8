// meshproxy's admin port: Envoy's admin paths that operators and the tests use.

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import NIOCore
import NIOHTTP1
import NIOPosix
import ProxyConfig
import ProxyCore
import ProxyUpstream
import Telemetry
import TextHTTP

/// `/ready`, `/stats`, `/stats/prometheus`, `/clusters`, `/listeners`, `/config_dump`,
/// `/server_info`, `/drain_listeners` and `/quitquitquit`, answered as Envoy's admin answers
/// them, so `meshctl`, scripts and the conformance runner read either proxy the same way.
final class AdminServer: Sendable {
    let store: ProxyConfigStore
    let workers: [Worker]
    let listenerSet: ListenerSet
    let nodeID: String
    let started = Date()
    let quit: @Sendable () -> Void

    init(store: ProxyConfigStore, workers: [Worker], listenerSet: ListenerSet, nodeID: String, quit: @escaping @Sendable () -> Void) {
        self.store = store
        self.workers = workers
        self.listenerSet = listenerSet
        self.nodeID = nodeID
        self.quit = quit
    }

    /// The admin port; connections stay open while clients keep them alive, as Envoy's do.
    func bind(_ address: SocketAddressConfig, on loop: EventLoop) -> EventLoopFuture<Channel> {
        TextHTTPServer.bind(host: address.host, port: address.port, group: loop, closeAfterResponse: false) { head, _ in
            self.respond(method: head.method, uri: head.uri).map { TextResponse(status: $0.0, contentType: $0.1, body: $0.2) }
        }
    }

    /// Every worker's counters, read on its own loop.
    func workerStats() -> EventLoopFuture<[(Int, Int, WorkerStats)]> {
        let loop = workers[0].loop
        let futures = workers.map { worker in
            worker.loop.submit { (worker.index, worker.activeConnections.load(ordering: .relaxed), worker.stats) }
        }
        return EventLoopFuture.whenAllSucceed(futures, on: loop)
    }

    /// Every worker's Istio metrics, each taken on its own loop, merged.
    func istioMetrics() -> EventLoopFuture<IstioMetricsSnapshot> {
        let futures = workers.map { worker in worker.loop.submit { worker.istioMetrics.snapshot() } }
        return EventLoopFuture.whenAllSucceed(futures, on: workers[0].loop).map { snapshots in
            snapshots.reduce(into: IstioMetricsSnapshot()) { $0.merge($1) }
        }
    }

    /// Envoy's own families, then Istio's standard metrics (what istio-proxy serves on its
    /// admin port and on 15090).
    func prometheusStats() -> EventLoopFuture<String> {
        workerStats().and(istioMetrics()).map { stats, istio in self.prometheusText(stats) + istio.prometheusText() }
    }

    func respond(method: HTTPMethod, uri: String) -> EventLoopFuture<(HTTPResponseStatus, String, String)> {
        let loop = workers[0].loop
        let path = String(uri.split(separator: "?", maxSplits: 1).first ?? "")
        switch path {
        case "/ready":
            let ready = store.isInitialized
            return loop.makeSucceededFuture((ready ? .ok : .serviceUnavailable, "text/plain", ready ? "LIVE\n" : "PRE_INITIALIZING\n"))
        case "/server_info":
            let uptime = Int(Date().timeIntervalSince(started))
            let body = "{\"version\": \"meshproxy\", \"state\": \"\(store.isInitialized ? "LIVE" : "PRE_INITIALIZING")\", \"uptime_current_epoch\": \"\(uptime)s\", \"node\": {\"id\": \(ProxyConfigStore.quoted(nodeID))}, \"concurrency\": \(workers.count)}\n"
            return loop.makeSucceededFuture((.ok, "application/json", body))
        case "/config_dump":
            return loop.makeSucceededFuture((.ok, "application/json", store.configDump()))
        case "/clusters":
            return loop.makeSucceededFuture((.ok, "text/plain", clustersText()))
        case "/listeners":
            return listenerSet.boundListeners().map { bound in
                (.ok, "text/plain", bound.sorted { $0.key < $1.key }.map { "\($0.key)::\($0.value)\n" }.joined())
            }
        case "/stats":
            return workerStats().map { (.ok, "text/plain", self.statsText($0)) }
        case "/stats/prometheus":
            return prometheusStats().map { (.ok, "text/plain; version=0.0.4", $0) }
        case "/quitquitquit" where method == .POST:
            loop.scheduleTask(in: .milliseconds(50)) { self.quit() }
            return loop.makeSucceededFuture((.ok, "text/plain", "OK\n"))
        case "/drain_listeners" where method == .POST:
            // Envoy's options (inboundonly, graceful) would change what stops: refused, not ignored.
            if uri.contains("?") {
                return loop.makeSucceededFuture((.badRequest, "text/plain", "meshproxy's /drain_listeners takes no options: it stops every listener and drains every connection\n"))
            }
            for worker in workers { worker.drainAll() }
            return listenerSet.closeAll().map { (.ok, "text/plain", "OK\n") }
        default:
            return loop.makeSucceededFuture((.notFound, "text/plain", "unknown admin path \(path)\n"))
        }
    }

    func clustersText() -> String {
        var lines: [String] = []
        let now = NIODeadline.now()
        for (name, cluster) in store.currentClusters().sorted(by: { $0.key < $1.key }) {
            let limits = cluster.config.thresholds
            lines.append("\(name)::default_priority::max_connections::\(limits.maxConnections)")
            lines.append("\(name)::default_priority::max_pending_requests::\(limits.maxPendingRequests)")
            lines.append("\(name)::default_priority::max_requests::\(limits.maxRequests)")
            lines.append("\(name)::default_priority::max_retries::\(limits.maxRetries)")
            for level in cluster.levels {
                for host in level.hosts {
                    let prefix = "\(name)::\(host.address)"
                    lines.append("\(prefix)::rq_active::\(host.state.outstandingRequests)")
                    // Envoy's flags, each failed reason once, in its order.
                    var failed: [String] = []
                    if host.state.isFailingActiveHealthCheck { failed.append("/failed_active_hc") }
                    if host.state.isEjected(now: now) { failed.append("/failed_outlier_check") }
                    if host.health != .healthy { failed.append("/failed_eds_health") }
                    let flags = failed.isEmpty ? "healthy" : failed.joined()
                    lines.append("\(prefix)::health_flags::\(flags)")
                    lines.append("\(prefix)::weight::\(host.weight)")
                    lines.append("\(prefix)::region::\(host.locality.region)")
                    lines.append("\(prefix)::zone::\(host.locality.zone)")
                    lines.append("\(prefix)::priority::\(host.priority)")
                }
            }
        }
        return lines.map { $0 + "\n" }.joined()
    }

    /// Every statistic once: per worker, then summed HTTP counters, then per-cluster gauges.
    /// `/stats` and `/stats/prometheus` are two renderings of this list.
    func adminStats(_ stats: [(Int, Int, WorkerStats)]) -> [AdminStat] {
        var list: [AdminStat] = []
        var total = WorkerStats()
        for (index, active, worker) in stats.sorted(by: { $0.0 < $1.0 }) {
            let tag = (name: "worker", value: String(index))
            for (name, kind, value) in [("downstream_cx_active", AdminStat.Kind.gauge, active),
                                        ("downstream_cx_total", .counter, worker.connectionsAccepted),
                                        ("downstream_rq_total", .counter, worker.requests)] {
                list.append(AdminStat(kind: kind, family: "server_worker_" + name, tag: tag,
                                      statName: "server.worker_\(index).\(name)", value: value))
            }
            total.add(worker)
        }
        for (name, value) in total.named {
            list.append(AdminStat(kind: .counter, family: "http_" + name, tag: ("envoy_http_conn_manager_prefix", "meshproxy"),
                                  statName: "http.meshproxy.\(name)", value: value))
        }
        for field in WorkerStats.tracingFields {
            list.append(AdminStat(kind: .counter, family: "tracing_" + field.name, tag: ("envoy_tracer", "meshproxy"),
                                  statName: "tracing.meshproxy.\(field.name)", value: total[keyPath: field.value]))
        }
        for (name, cluster) in store.currentClusters().sorted(by: { $0.key < $1.key }) {
            let resources = cluster.resources
            for (stat, kind, value) in [("upstream_cx_active", AdminStat.Kind.gauge, resources.current(.connections)),
                                        ("upstream_rq_active", .gauge, resources.current(.requests)),
                                        ("upstream_rq_pending_active", .gauge, resources.current(.pendingRequests)),
                                        ("upstream_rq_overflow", .counter, resources.overflows.load(ordering: .relaxed)),
                                        ("upstream_rq_timeout", .counter, resources.timeouts.load(ordering: .relaxed)),
                                        ("upstream_rq_retry", .counter, resources.retriesStarted.load(ordering: .relaxed))] {
                list.append(AdminStat(kind: kind, family: "cluster_" + stat, tag: ("envoy_cluster_name", name),
                                      statName: "cluster.\(name).\(stat)", value: value))
            }
            guard cluster.config.healthCheck != nil else { continue }
            let healthy = cluster.levels.reduce(0) { $0 + $1.hosts.count { !$0.state.isFailingActiveHealthCheck } }
            for (stat, kind, value) in [("health_check.attempt", AdminStat.Kind.counter, resources.healthCheckAttempts.load(ordering: .relaxed)),
                                        ("health_check.success", .counter, resources.healthCheckSuccesses.load(ordering: .relaxed)),
                                        ("health_check.failure", .counter, resources.healthCheckFailures.load(ordering: .relaxed)),
                                        ("health_check.network_failure", .counter, resources.healthCheckNetworkFailures.load(ordering: .relaxed)),
                                        ("health_check.healthy", .gauge, healthy)] {
                list.append(AdminStat(kind: kind, family: "cluster_" + stat.replacing(".", with: "_"),
                                      tag: ("envoy_cluster_name", name), statName: "cluster.\(name).\(stat)", value: value))
            }
        }
        return list
    }

    /// Envoy's `/stats` text: `name: value` lines.
    func statsText(_ stats: [(Int, Int, WorkerStats)]) -> String {
        adminStats(stats).map { "\($0.statName): \($0.value)\n" }.joined()
    }

    /// Prometheus text format 0.0.4: one `# TYPE` line per family, then its tagged samples.
    func prometheusText(_ stats: [(Int, Int, WorkerStats)]) -> String {
        var families: [String: [AdminStat]] = [:]
        var order: [String] = []
        for stat in adminStats(stats) {
            if families[stat.family] == nil { order.append(stat.family) }
            families[stat.family, default: []].append(stat)
        }
        var out = ""
        for family in order {
            let samples = families[family]!
            out += "# TYPE envoy_\(family) \(samples[0].kind.rawValue)\n"
            for sample in samples {
                out += "envoy_\(family){\(sample.tag.name)=\"\(PrometheusLabel.escape(sample.tag.value))\"} \(sample.value)\n"
            }
        }
        return out
    }

}

/// One statistic: its Envoy name for `/stats` and its Prometheus family and tag for `/stats/prometheus`.
struct AdminStat {
    enum Kind: String { case counter, gauge }
    let kind: Kind
    /// The Prometheus family without the `envoy_` prefix (`cluster_upstream_cx_active`).
    let family: String
    let tag: (name: String, value: String)
    /// Envoy's dotted name (`cluster.outbound|9080||reviews.upstream_cx_active`).
    let statName: String
    let value: Int
}

extension WorkerStats {
    /// Every counter once: its Envoy stat name and where it lives (summing and listing both read this).
    nonisolated(unsafe) static let fields: [(name: String, value: WritableKeyPath<WorkerStats, Int>)] = [
        ("downstream_cx_total", \.connectionsAccepted), ("downstream_rq_total", \.requests),
        ("downstream_rq_2xx", \.responses2xx), ("downstream_rq_3xx", \.responses3xx), ("downstream_rq_4xx", \.responses4xx),
        ("downstream_rq_5xx", \.responses5xx), ("upstream_cx_total", \.upstreamConnectionsOpened),
        ("upstream_cx_connect_fail", \.upstreamConnectFailures), ("upstream_rq_retry", \.upstreamRetries),
        ("upstream_rq_timeout", \.upstreamTimeouts), ("upstream_rq_overflow", \.overflows), ("no_route", \.noRoute),
        ("no_healthy_upstream", \.noHealthyUpstream), ("fault_injected", \.faultsInjected), ("rq_mirrored", \.mirrored),
        ("downstream_cx_protocol_error", \.downstreamProtocolErrors), ("downstream_rq_idle_timeout", \.downstreamTimeouts),
        ("downstream_cx_idle_timeout", \.downstreamIdleClosed), ("tcp_downstream_cx_total", \.tcpConnections),
        ("tcp_downstream_cx_no_route", \.tcpNoCluster), ("tcp_idle_timeout", \.tcpIdleTimeouts),
        ("downstream_cx_upgrades_total", \.upgrades), ("downstream_rq_http2_total", \.http2Streams),
        ("ssl_handshake", \.tlsHandshakes), ("ssl_connection_error", \.tlsHandshakeErrors),
        ("no_filter_chain_match", \.noFilterChainMatch), ("downstream_cx_drain_close", \.connectionsDrained),
        ("access_log_lines", \.accessLogLines), ("original_dst_handoff", \.originalDestinationHandoffs),
        ("metadata_exchange_alpn_protocol_found", \.exchangeALPNFound), ("metadata_exchange_alpn_protocol_not_found", \.exchangeALPNNotFound),
        ("metadata_exchange_initial_header_not_found", \.exchangeHeaderNotFound), ("metadata_exchange_metadata_added", \.exchangeMetadataAdded),
    ]
    /// The tracers' counters (Envoy keeps them as `tracing.<tracer>.*`, outside the connection manager's).
    nonisolated(unsafe) static let tracingFields: [(name: String, value: WritableKeyPath<WorkerStats, Int>)] = [
        ("spans_sent", \.spansReported), ("reports_sent", \.traceReports), ("spans_dropped", \.spansDropped),
    ]

    mutating func add(_ other: WorkerStats) {
        for field in Self.fields + Self.tracingFields { self[keyPath: field.value] += other[keyPath: field.value] }
    }

    var named: [(String, Int)] {
        Self.fields.map { ($0.name, self[keyPath: $0.value]) }
    }
}
