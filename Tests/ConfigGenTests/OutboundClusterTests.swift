// Outbound clusters and endpoints: golden JSON (Istio's names, discovery types, subsets,
// localities, weights), accepted by a real Envoy 1.40 as part of a bootstrap.

import ConfigGen
import EnvoyAPI
import Foundation
import MeshAPI
import MeshModel
import Testing

@Suite struct OutboundClusterTests {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("golden/outbound-clusters")

    func generated() throws -> [OutboundClusterGenerator.Output] {
        let input = try Data(contentsOf: Self.directory.appendingPathComponent("input.yaml"))
        let report = ValidationReport.validate([ConfigInput(file: "input.yaml", data: input)])
        #expect(report.errorCount == 0, "\(report.diagnostics)")
        let snapshot = MeshSnapshot.empty().next(report)
        return try OutboundClusterGenerator(snapshot: snapshot, proxyNamespace: "default").generate()
    }

    func expect(_ text: String, matches name: String) throws {
        let url = Self.directory.appendingPathComponent(name)
        if ProcessInfo.processInfo.environment["SWIFTMESH_UPDATE_GOLDEN"] == "1" {
            try text.write(to: url, atomically: true, encoding: .utf8)
        }
        #expect(text == (try String(contentsOf: url, encoding: .utf8)), "\(name) differs from what is generated")
    }

    @Test func clustersAndEndpointsMatchGoldenFiles() throws {
        let outputs = try generated()
        try expect(try ProtoJSON.pretty(list: outputs.map(\.cluster)), matches: "clusters.json")
        try expect(try ProtoJSON.pretty(list: outputs.compactMap(\.loadAssignment)), matches: "endpoints.json")
    }

    @Test func namesTypesAndVisibility() throws {
        let outputs = try generated()
        #expect(outputs.map(\.cluster.name) == [
            "BlackHoleCluster", "PassthroughCluster",
            "outbound|443||api.partners.example.com",
            "outbound|5432||db.example.com",
            "outbound|9080|v1|reviews.default.svc.cluster.local",
            "outbound|9080|v2|reviews.default.svc.cluster.local",
            "outbound|9080|v3|reviews.default.svc.cluster.local",
            "outbound|9080||reviews.default.svc.cluster.local",
        ], "ordered by name; private.team-b is exported to its own namespace only")
        let byName = Dictionary(uniqueKeysWithValues: outputs.map { ($0.cluster.name, $0) })
        #expect(byName["outbound|443||api.partners.example.com"]?.cluster.type == .strictDns)
        #expect(byName["outbound|5432||db.example.com"]?.cluster.type == .originalDst)
        let v1 = try #require(byName["outbound|9080|v1|reviews.default.svc.cluster.local"])
        #expect(v1.loadAssignment?.endpoints.count == 1)
        let all = try #require(byName["outbound|9080||reviews.default.svc.cluster.local"]?.loadAssignment)
        #expect(all.endpoints.map(\.locality.zone) == ["zone1", "zone2"])
        #expect(all.endpoints[1].loadBalancingWeight.value == 3)
        #expect(byName["outbound|443||api.partners.example.com"]?.cluster.lbPolicy == .leastRequest, "Istio's default")
    }

    @Test func trafficPolicyMergesAsIstioDoes() throws {
        let byName = Dictionary(uniqueKeysWithValues: try generated().map { ($0.cluster.name, $0.cluster) })
        let base = try #require(byName["outbound|9080||reviews.default.svc.cluster.local"])
        #expect(base.lbPolicy == .roundRobin)
        #expect(base.connectTimeout.nanos == 250_000_000)
        let limits = try #require(base.circuitBreakers.thresholds.first)
        #expect([limits.maxConnections.value, limits.maxPendingRequests.value, limits.maxRequests.value, limits.maxRetries.value] == [100, 10, 200, 3])
        #expect(base.outlierDetection.consecutive5Xx.value == 7, "port-level settings override the rule's")
        #expect(base.outlierDetection.interval.seconds == 5)
        #expect(!base.outlierDetection.hasConsecutiveGatewayFailure, "port-level outlierDetection replaces the whole part")
        #expect(base.commonLbConfig.healthyPanicThreshold.value == 25)
        #expect(base.upstreamConnectionOptions.tcpKeepalive.keepaliveTime.value == 60)
        let v2 = try #require(byName["outbound|9080|v2|reviews.default.svc.cluster.local"])
        #expect(v2.lbPolicy == .maglev && v2.maglevLbConfig.tableSize.value == 65537, "a subset's load balancer replaces the rule's")
        #expect(v2.circuitBreakers.thresholds.first?.maxConnections.value == 100, "and keeps the rule's other parts")
        let v3 = try #require(byName["outbound|9080|v3|reviews.default.svc.cluster.local"])
        #expect(v3.type == .originalDst && v3.lbPolicy == .clusterProvided, "PASSTHROUGH connects where the caller asked")
        let unconfigured = try #require(byName["outbound|443||api.partners.example.com"])
        #expect(unconfigured.circuitBreakers.thresholds.first?.maxRequests.value == UInt32.max, "Envoy's 1024 default is lifted")
    }

    @Test func stockEnvoyAcceptsTheClusters() throws {
        // The clusters go into a bootstrap as static resources, with ADS for the EDS ones.
        var bootstrap = try BootstrapGenerator.bootstrap(try BootstrapCases.options("sidecar-embedded"))
        bootstrap.staticResources.clusters += try generated().map(\.cluster)
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("clusters-bootstrap-\(UUID().uuidString).json")
        try ProtoJSON.pretty(bootstrap).write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        let result = try BootstrapCases.validate(file)
        #expect(result.status == 0, "envoy rejected the clusters:\n\(result.output)")
    }
}
