// Istio's labels on requests as a server-side proxy records them: peer workload from the exchange header, flags for
// no route (NR), fault aborts (FI), circuit-breaker overflow (UO), plaintext security; the exchange headers in and out.

import EnvoyAPI
import NIOCore
import NIOEmbedded
import NIOHTTP1
import ProxyConfig
import ProxyCore
import ProxyUpstream
@testable import ProxyHTTP
import SwiftProtobuf
import Telemetry
import Testing

@Suite struct IstioMetricsExchangeTests {
    static let local = WorkloadMetadata(workload: "reviews-v1", namespace: "default", labels: ["app": "reviews", "version": "v1"],
                                        cluster: "Kubernetes")
    static let caller = WorkloadMetadata(workload: "productpage-v1", namespace: "default",
                                         labels: ["app": "productpage", "version": "v1"], cluster: "Kubernetes")

    /// An inbound listener marked `istio.stats`: `/` answers directly, `/abort` is a 100% fault
    /// abort, `/full` goes to a cluster whose circuit breaker admits no request; only host
    /// `reviews` has routes.
    static func manager() throws -> HTTPConnectionManagerConfig {
        func route(_ prefix: String, _ configure: (inout Envoy_Config_Route_V3_Route) throws -> Void) rethrows -> Envoy_Config_Route_V3_Route {
            var route = Envoy_Config_Route_V3_Route()
            route.match.prefix = prefix
            try configure(&route)
            return route
        }
        var host = Envoy_Config_Route_V3_VirtualHost()
        host.name = "reviews"
        host.domains = ["reviews", "reviews:9080"]
        host.routes = [
            try route("/abort") {
                $0.route.cluster = "inbound|9080||"
                var fault = Envoy_Extensions_Filters_Http_Fault_V3_HTTPFault()
                fault.abort.httpStatus = 503
                fault.abort.percentage.numerator = 100
                $0.typedPerFilterConfig["envoy.filters.http.fault"] = try Google_Protobuf_Any(message: fault)
            },
            route("/full") { $0.route.cluster = "inbound|9080||" },
            route("/") {
                $0.directResponse.status = 200
                $0.directResponse.body.inlineString = "hello"
            },
        ]
        return try DownstreamCodecTests.manager({ manager in
            manager.statPrefix = "inbound"
            manager.routeConfig.name = "inbound|9080||"
            manager.routeConfig.virtualHosts = [host]
            manager.httpFilters.insert(try DownstreamCodecTests.httpFilter("envoy.filters.http.fault",
                                                                          Envoy_Extensions_Filters_Http_Fault_V3_HTTPFault()), at: 0)
        }, listener: { listener in
            listener.name = "inbound"
            listener.trafficDirection = .inbound
            listener.filterChains[0].metadata.filterMetadata["istio.stats"] = Google_Protobuf_Struct()
        })
    }

    /// The inbound cluster, naming its service, with a circuit breaker that admits no request.
    static func fullCluster() throws -> UpstreamCluster {
        var cluster = Envoy_Config_Cluster_V3_Cluster()
        cluster.name = "inbound|9080||"
        cluster.type = .static
        cluster.loadAssignment.clusterName = cluster.name
        var endpoint = Envoy_Config_Endpoint_V3_LbEndpoint()
        endpoint.endpoint.address.socketAddress.address = "127.0.0.1"
        endpoint.endpoint.address.socketAddress.portValue = 9
        var group = Envoy_Config_Endpoint_V3_LocalityLbEndpoints()
        group.lbEndpoints = [endpoint]
        cluster.loadAssignment.endpoints = [group]
        var thresholds = Envoy_Config_Cluster_V3_CircuitBreakers.Thresholds()
        thresholds.maxRequests = Google_Protobuf_UInt32Value(0)
        cluster.circuitBreakers.thresholds = [thresholds]
        var service = Google_Protobuf_Struct()
        service.fields["host"] = Google_Protobuf_Value(stringValue: "reviews.default.svc.cluster.local")
        var istio = Google_Protobuf_Struct()
        istio.fields["services"] = Google_Protobuf_Value(listValue: Google_Protobuf_ListValue(values: [Google_Protobuf_Value(structValue: service)]))
        cluster.metadata.filterMetadata["istio"] = istio
        let config = try ClusterConfig(proto: cluster, limits: ConfigLimits())
        return UpstreamCluster(config: config, assignment: try LoadAssignment(proto: cluster.loadAssignment), previous: nil)
    }

    static func connection() throws -> (EmbeddedChannel, Worker) {
        let manager = try manager()
        let channel = EmbeddedChannel()
        let worker = Worker(index: 0, loop: channel.embeddedEventLoop, workload: local, nodeID: "sidecar~127.0.0.2~reviews-v1.default~default.svc.cluster.local")
        let cluster = try fullCluster()
        worker.snapshot = ProxySnapshot(version: 1, listeners: [:], routeTables: [:], clusters: [cluster.config.name: cluster])
        let http = HTTPWorker(worker: worker, upstreamBindAddress: nil)
        try DownstreamHTTPHandler.configure(channel.pipeline.syncOperations, manager: manager)
        try channel.pipeline.syncOperations.addHandler(DownstreamHTTPHandler(http: http, manager: manager, connection: DownstreamConnectionInfo(channel: channel, security: nil)))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        DownstreamCodecTests.keepAlive.append(http)
        return (channel, worker)
    }

    /// The label values of the one series whose response code is `code`.
    static func series(_ worker: Worker, code: String) -> [String: String]? {
        let keys = worker.istioMetrics.snapshot().requests.keys.map { Dictionary(uniqueKeysWithValues: zip(IstioSeries.requestLabels, $0.values)) }
        return keys.first { $0["response_code"] == code }
    }

    @Test func theServerSideNamesItsCallerFromTheExchangeHeader() throws {
        let (channel, worker) = try Self.connection()
        let announced = PeerMetadataHeaders.encode(Self.caller)
        let out = try DownstreamCodecTests.send("GET / HTTP/1.1\r\nHost: reviews:9080\r\nx-envoy-peer-metadata-id: sidecar~127.0.0.1~productpage-v1.default~x\r\n"
                                                + "x-envoy-peer-metadata: \(announced)\r\n\r\n", on: channel)
        #expect(out.hasPrefix("HTTP/1.1 200 OK\r\n"))
        let labels = try #require(Self.series(worker, code: "200"))
        #expect(labels["reporter"] == "destination")
        #expect(labels["source_workload"] == "productpage-v1" && labels["source_app"] == "productpage" && labels["source_version"] == "v1")
        #expect(labels["destination_workload"] == "reviews-v1" && labels["destination_version"] == "v1")
        #expect(labels["destination_canonical_service"] == "reviews" && labels["destination_cluster"] == "Kubernetes")
        #expect(labels["connection_security_policy"] == "none" && labels["source_principal"] == "unknown")
        #expect(labels["response_flags"] == "-" && labels["request_protocol"] == "http")
    }

    @Test func aRequestWithoutAnnouncementLeavesTheSourceUnknownAndGetsNoMetadataBack() throws {
        let (channel, worker) = try Self.connection()
        let out = try DownstreamCodecTests.send("GET / HTTP/1.1\r\nHost: reviews\r\n\r\n", on: channel)
        #expect(out.hasPrefix("HTTP/1.1 200 OK\r\n"))
        #expect(!out.lowercased().contains("x-envoy-peer-metadata"))
        let labels = try #require(Self.series(worker, code: "200"))
        #expect(labels["source_workload"] == "unknown" && labels["destination_workload"] == "reviews-v1")
        // No cluster was involved: the service comes from the authority.
        #expect(labels["destination_service"] == "reviews")
    }

    @Test func localAnswersCarryEnvoysFlags() throws {
        let (channel, worker) = try Self.connection()
        #expect(try DownstreamCodecTests.send("GET / HTTP/1.1\r\nHost: elsewhere\r\n\r\n", on: channel).hasPrefix("HTTP/1.1 404"))
        #expect(try DownstreamCodecTests.send("GET /abort HTTP/1.1\r\nHost: reviews\r\n\r\n", on: channel).hasPrefix("HTTP/1.1 503"))
        let noRoute = try #require(Self.series(worker, code: "404"))
        #expect(noRoute["response_flags"] == "NR" && noRoute["destination_service"] == "elsewhere")
        let fault = try #require(Self.series(worker, code: "503"))
        #expect(fault["response_flags"] == "FI")
        // The abort answers before any upstream, but the route's cluster names the service.
        #expect(fault["destination_service"] == "reviews.default.svc.cluster.local")
    }

    @Test func circuitBreakerOverflowIsUOWithTheClustersService() throws {
        let (channel, worker) = try Self.connection()
        #expect(try DownstreamCodecTests.send("GET /full HTTP/1.1\r\nHost: reviews\r\n\r\n", on: channel).hasPrefix("HTTP/1.1 503"))
        let overflow = try #require(Self.series(worker, code: "503"))
        #expect(overflow["response_flags"] == "UO")
        #expect(overflow["destination_service"] == "reviews.default.svc.cluster.local")
        #expect(overflow["destination_service_name"] == "reviews" && overflow["destination_service_namespace"] == "default")
        let recorded = worker.istioMetrics.snapshot().requests.values.map(\.total).reduce(0, +)
        #expect(recorded == 1)
    }
}
