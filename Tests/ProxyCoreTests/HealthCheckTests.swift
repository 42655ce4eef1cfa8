// Active health checks against real hosts on loopback: thresholds, Envoy's immediate failure on an unexpected status, TCP checks, pacing.

import EnvoyAPI
import Foundation
import NIOCore
import NIOPosix
@testable import ProxyConfig
@testable import ProxyUpstream
import SwiftProtobuf
import Synchronization
import Testing

/// A host that answers every connection with one HTTP status (changeable) or, in TCP mode,
/// "pong" to "ping"; it records the requests it got. A held host keeps its HTTP answers until
/// `release()`, so a test can look at the state before a first check without racing it.
final class CheckedHost: @unchecked Sendable {
    let status = Atomic<Int>(200)
    let requests = Mutex<[String]>([])
    /// Answers waiting for `release()`; nil once released (or never held).
    let held: Mutex<[@Sendable () -> Void]?>
    let channel: Channel
    var port: Int { channel.localAddress!.port! }

    init(tcp: Bool = false, held: Bool = false) async throws {
        self.held = Mutex(held ? [] : nil)
        let host = HostBox()
        channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(Answer(host: host, tcp: tcp)) }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        host.value = self
    }

    func stop() async throws { try await channel.close() }

    /// Sends the answers held so far and answers at once from now on.
    func release() {
        let waiting = held.withLock { list in
            defer { list = nil }
            return list ?? []
        }
        waiting.forEach { $0() }
    }

    /// Runs `body` with a host and closes the host when it returns or throws, awaiting the close
    /// (a test's host never outlives it, and a failed close is reported, not hidden).
    static func with(tcp: Bool = false, held: Bool = false, _ body: (CheckedHost) async throws -> Void) async throws {
        let host = try await CheckedHost(tcp: tcp, held: held)
        do {
            try await body(host)
        } catch {
            do { try await host.stop() } catch let closing { Issue.record("closing the test host after a failure: \(closing)") }
            throw error
        }
        try await host.stop()
    }

    final class HostBox: @unchecked Sendable { weak var value: CheckedHost? }

    final class Answer: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer
        let host: HostBox
        let tcp: Bool
        var text = ""
        init(host: HostBox, tcp: Bool) {
            self.host = host
            self.tcp = tcp
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            text += String(buffer: unwrapInboundIn(data))
            if tcp {
                if text.contains("ping") { context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: "...pong...")), promise: nil) }
                return
            }
            guard text.hasSuffix("\r\n\r\n"), let host = host.value else { return }
            host.requests.withLock { $0.append(text) }
            let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            let answer: @Sendable () -> Void = { [weak host] in
                bound.eventLoop.execute {
                    let (handler, context) = bound.value
                    handler.answer(context: context, status: host?.status.load(ordering: .relaxed) ?? 500)
                }
            }
            let isHeld = host.held.withLock { list in
                guard list != nil else { return false }
                list!.append(answer)
                return true
            }
            if !isHeld { answer() }
        }

        func answer(context: ChannelHandlerContext, status: Int) {
            context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: "HTTP/1.1 \(status) X\r\ncontent-length: 0\r\n\r\n")))
                .whenComplete { _ in context.close(promise: nil) }
        }
    }
}

@Suite struct HealthCheckTests {
    /// A STATIC cluster of `ports` on 127.0.0.1 with the health check `configure` writes.
    /// `driven`: only the first check runs by itself (hour-long intervals); the test runs each
    /// further one with `checkAllNow()`, so what it counts is exact.
    static func cluster(_ name: String = "checked", ports: [Int], driven: Bool = false,
                        _ configure: (inout Envoy_Config_Core_V3_HealthCheck) -> Void = { _ in }) throws -> UpstreamCluster {
        var proto = Envoy_Config_Cluster_V3_Cluster()
        proto.name = name
        proto.type = .static
        proto.loadAssignment.clusterName = name
        var locality = Envoy_Config_Endpoint_V3_LocalityLbEndpoints()
        for port in ports {
            var endpoint = Envoy_Config_Endpoint_V3_LbEndpoint()
            endpoint.endpoint.address.socketAddress.address = "127.0.0.1"
            endpoint.endpoint.address.socketAddress.portValue = UInt32(port)
            locality.lbEndpoints.append(endpoint)
        }
        proto.loadAssignment.endpoints = [locality]
        var check = Envoy_Config_Core_V3_HealthCheck()
        check.timeout = .init(nanos: 300_000_000)
        check.interval = .init(nanos: 40_000_000)
        check.noTrafficInterval = .init(nanos: 40_000_000)
        check.unhealthyThreshold = .init(3)
        check.healthyThreshold = .init(2)
        check.httpHealthCheck.path = "/healthz"
        if driven {
            check.interval = .init(seconds: 3600)
            check.noTrafficInterval = .init(seconds: 3600)
        }
        configure(&check)
        proto.healthChecks = [check]
        let config = try ClusterConfig(proto: proto, limits: ConfigLimits())
        return UpstreamCluster(config: config, assignment: config.staticAssignment, previous: nil)
    }

    /// A checker running `clusters` for `body`, then stopped, its stop awaited (no check of one
    /// test runs into the next).
    static func checking(_ clusters: [UpstreamCluster], _ body: (HealthChecker) async throws -> Void) async throws {
        let checker = HealthChecker(loop: MultiThreadedEventLoopGroup.singleton.next(), upstreamBindAddress: nil, log: { _ in })
        checker.update(Dictionary(uniqueKeysWithValues: clusters.map { ($0.name, $0) }))
        do {
            try await body(checker)
        } catch {
            do { try await checker.stop().get() } catch let stopping { Issue.record("stopping the checker after a failure: \(stopping)") }
            throw error
        }
        try await checker.stop().get()
    }

    static func host(_ cluster: UpstreamCluster) -> UpstreamHost { cluster.levels[0].hosts[0] }

    /// Waits for what the checker does on its own (first checks); generous, since the whole
    /// suite runs in parallel on two cores in CI.
    static func eventually(_ what: String, within seconds: Double = 10, _ condition: () -> Bool) async throws {
        let deadline = Date().addingTimeInterval(seconds)
        while !condition() {
            guard Date() < deadline else {
                Issue.record("not within \(seconds) s: \(what)")
                return
            }
            try await Task.sleep(for: .milliseconds(10))
        }
    }

    @Test func aHostIsUsedOnlyOnceItPassesAndFailsAtOnceOnAnUnexpectedStatus() async throws {
        try await CheckedHost.with(held: true) { server in
            let cluster = try Self.cluster(ports: [server.port], driven: true) { check in
                check.timeout = .init(seconds: 60)  // the held first answer must not time out
                var header = Envoy_Config_Core_V3_HeaderValueOption()
                header.header.key = "x-probe"
                header.header.value = "meshproxy"
                check.httpHealthCheck.requestHeadersToAdd = [header]
            }
            let host = Self.host(cluster)
            try await Self.checking([cluster]) { checker in
                // Before its first check the host is held back and the checker is warming.
                #expect(checker.isWarming)
                #expect(!host.isAvailable(now: .now()), "a new host waits for its first check")
                server.release()
                try await Self.eventually("the first check to finish") { !checker.isWarming }
                #expect(host.isAvailable(now: .now()))
                let request = try #require(server.requests.withLock { $0.first })
                #expect(request.hasPrefix("GET /healthz HTTP/1.1\r\n"))
                #expect(request.contains("host: checked\r\n"), "Envoy's Host is the cluster's name: \(request)")
                #expect(request.contains("user-agent: Envoy/HC\r\n") && request.contains("x-probe: meshproxy\r\n"))

                // 503 is neither expected nor retriable: one check fails the host.
                server.status.store(503, ordering: .relaxed)
                try await checker.checkAllNow().get()
                #expect(!host.isAvailable(now: .now()))
                #expect(cluster.resources.healthCheckFailures.load(ordering: .relaxed) == 1)

                // Back to 200: healthy again after healthy_threshold (2) passes, not one.
                server.status.store(200, ordering: .relaxed)
                try await checker.checkAllNow().get()
                #expect(!host.isAvailable(now: .now()), "one pass is below healthy_threshold 2")
                try await checker.checkAllNow().get()
                #expect(host.isAvailable(now: .now()))
                #expect(cluster.resources.healthCheckSuccesses.load(ordering: .relaxed) == 3)
                #expect(cluster.resources.healthCheckAttempts.load(ordering: .relaxed) == 4)
            }
        }
    }

    @Test func retriableStatusesAndNetworkFailuresCountToTheThreshold() async throws {
        try await CheckedHost.with { server in
            let cluster = try Self.cluster(ports: [server.port], driven: true) { check in
                var range = Envoy_Type_V3_Int64Range()
                range.start = 429
                range.end = 430
                check.httpHealthCheck.retriableStatuses = [range]
            }
            let host = Self.host(cluster)
            try await Self.checking([cluster]) { checker in
                try await Self.eventually("the first check to finish") { !checker.isWarming }
                #expect(host.isAvailable(now: .now()))
                server.status.store(429, ordering: .relaxed)
                try await checker.checkAllNow().get()
                try await checker.checkAllNow().get()
                #expect(host.isAvailable(now: .now()), "two retriable failures are below unhealthy_threshold 3")
                try await checker.checkAllNow().get()
                #expect(!host.isAvailable(now: .now()), "the third fails the host")
                #expect(cluster.resources.healthCheckFailures.load(ordering: .relaxed) == 3)
            }
        }
    }

    @Test func aHostNobodyListensOnNeverPassesAndStopsWarming() async throws {
        let server = try await CheckedHost()
        let port = server.port
        try await server.stop()
        let cluster = try Self.cluster(ports: [port])
        try await Self.checking([cluster]) { checker in
            try await Self.eventually("the first check to finish") { !checker.isWarming }
            #expect(!Self.host(cluster).isAvailable(now: .now()))
            try await Self.eventually("a network failure counted") { cluster.resources.healthCheckNetworkFailures.load(ordering: .relaxed) >= 1 }
        }
    }

    @Test func tcpChecksSendAndFindTheirBytes() async throws {
        try await CheckedHost.with(tcp: true) { server in
            let cluster = try Self.cluster(ports: [server.port]) { check in
                check.healthChecker = nil
                check.tcpHealthCheck.send.text = "70696e67"  // "ping"
                var pong = Envoy_Config_Core_V3_HealthCheck.Payload()
                pong.text = "706f6e67"  // "pong"
                check.tcpHealthCheck.receive = [pong]
            }
            try await Self.checking([cluster]) { checker in
                try await Self.eventually("the TCP check to pass") { Self.host(cluster).isAvailable(now: .now()) }
            }
        }
    }

    @Test func withoutTrafficChecksWaitTheNoTrafficInterval() async throws {
        try await CheckedHost.with { server in
            let cluster = try Self.cluster(ports: [server.port]) { check in check.noTrafficInterval = .init(seconds: 60) }
            try await Self.checking([cluster]) { checker in
                try await Self.eventually("the first check") { cluster.resources.healthCheckAttempts.load(ordering: .relaxed) == 1 && !checker.isWarming }
                try await Task.sleep(for: .milliseconds(300))
                #expect(cluster.resources.healthCheckAttempts.load(ordering: .relaxed) == 1, "no traffic yet: the next check waits 60 s, not 40 ms")

                // A cluster that has had a request is checked every interval.
                let busy = try Self.cluster("busy", ports: [server.port]) { check in check.noTrafficInterval = .init(seconds: 60) }
                Self.host(busy).state.requestStarted()
                checker.update([cluster.name: cluster, busy.name: busy])
                try await Self.eventually("checks every interval once there is traffic") {
                    busy.resources.healthCheckAttempts.load(ordering: .relaxed) >= 4
                }
            }
        }
    }

    @Test func removedHostsStopAndRemovedChecksReleaseTheHosts() async throws {
        try await CheckedHost.with { server in
            server.status.store(503, ordering: .relaxed)
            let cluster = try Self.cluster(ports: [server.port])
            try await Self.checking([cluster]) { checker in
                try await Self.eventually("the first check to fail") { !checker.isWarming }
                #expect(!Self.host(cluster).isAvailable(now: .now()))
                // The same cluster without health checks, keeping the host's state: it is used again.
                var config = cluster.config
                config.healthCheck = nil
                let unchecked = UpstreamCluster(config: config, assignment: config.staticAssignment, previous: cluster)
                checker.update([unchecked.name: unchecked])
                try await Self.eventually("the host to be released") { Self.host(unchecked).isAvailable(now: .now()) }
                let attempts = cluster.resources.healthCheckAttempts.load(ordering: .relaxed)
                try await Task.sleep(for: .milliseconds(200))
                #expect(cluster.resources.healthCheckAttempts.load(ordering: .relaxed) == attempts, "no check runs after its cluster dropped it")
            }
        }
    }

    @Test func configIsReadAsEnvoyDefinesIt() throws {
        func decode(_ configure: (inout Envoy_Config_Core_V3_HealthCheck) -> Void) throws -> HealthCheckConfig {
            var check = Envoy_Config_Core_V3_HealthCheck()
            check.timeout = .init(seconds: 1)
            check.interval = .init(seconds: 5)
            check.unhealthyThreshold = .init(2)
            check.healthyThreshold = .init(1)
            check.httpHealthCheck.path = "/ready"
            configure(&check)
            return try HealthCheckConfig(proto: check, at: "clusters[c].health_checks[0]")
        }
        func refusal(_ configure: (inout Envoy_Config_Core_V3_HealthCheck) -> Void) -> String? {
            do {
                _ = try decode(configure)
                return nil
            } catch {
                return "\(error)"
            }
        }
        let defaults = try decode { _ in }
        guard case .http(let http) = defaults.probe else { Issue.record("not an HTTP probe"); return }
        #expect(http.isExpected(200) && !http.isExpected(204) && http.method == "GET")
        #expect(defaults.unhealthyInterval == .seconds(5) && defaults.unhealthyEdgeInterval == .seconds(5)
                && defaults.healthyEdgeInterval == .seconds(5) && defaults.noTrafficInterval == .seconds(60))
        let edges = try decode { $0.unhealthyInterval = .init(seconds: 2) }
        #expect(edges.unhealthyEdgeInterval == .seconds(2), "unhealthy_edge_interval defaults to unhealthy_interval")

        #expect(refusal { $0.clearTimeout() } == "clusters[c].health_checks[0].timeout: is required")
        #expect(refusal { $0.grpcHealthCheck = .init() }
                == "clusters[c].health_checks[0].grpc_health_check: is not supported by meshproxy (HTTP and TCP health checks are)")
        #expect(refusal { $0.httpHealthCheck.path = "ready" } == "clusters[c].health_checks[0].http_health_check.path: must start with / (it is required)")
        #expect(refusal { $0.httpHealthCheck.codecClientType = .http2 }
                == "clusters[c].health_checks[0].http_health_check.codec_client_type: meshproxy health-checks over HTTP/1.1 only")
        #expect(refusal { $0.eventLogPath = "/tmp/hc.log" }?.hasPrefix("clusters[c].health_checks[0]") == true)
        #expect(refusal { check in
            var range = Envoy_Type_V3_Int64Range()
            range.start = 200
            range.end = 200
            check.httpHealthCheck.expectedStatuses = [range]
        } == "clusters[c].health_checks[0].http_health_check.expected_statuses[0]: must be within [100, 600) with start < end")
    }
}

extension ClusterConfig {
    /// A STATIC cluster's endpoints.
    var staticAssignment: LoadAssignment? {
        if case .staticEndpoints(let assignment) = discovery { return assignment }
        return nil
    }
}
