// What tells meshproxy to record Istio's metrics and whom to name: chain metadata, cluster services, node and peer metadata.

import EnvoyAPI
@testable import ProxyConfig
import SwiftProtobuf
import Telemetry
import Testing

@Suite struct IstioMetricsConfigTests {
    static func listener(direction: Envoy_Config_Core_V3_TrafficDirection, stats: Google_Protobuf_Struct?) throws -> Envoy_Config_Listener_V3_Listener {
        var listener = try AccessLogConfigTests.listener([])
        listener.trafficDirection = direction
        if let stats { listener.filterChains[0].metadata.filterMetadata["istio.stats"] = stats }
        return listener
    }

    static func metrics(_ listener: Envoy_Config_Listener_V3_Listener) throws -> IstioMetricsSettings? {
        let config = try ListenerConfig(proto: listener, limits: ConfigLimits())
        guard case .tcp(let proxy) = config.filterChains[0].network else { throw ProxyConfigError("test", "not a tcp proxy") }
        return proxy.istioMetrics
    }

    @Test func theReporterFollowsTheListenersDirection() throws {
        #expect(try Self.metrics(Self.listener(direction: .inbound, stats: Google_Protobuf_Struct())) == IstioMetricsSettings(reporter: .destination))
        #expect(try Self.metrics(Self.listener(direction: .outbound, stats: Google_Protobuf_Struct())) == IstioMetricsSettings(reporter: .source))
        #expect(try Self.metrics(Self.listener(direction: .unspecified, stats: Google_Protobuf_Struct())) == IstioMetricsSettings(reporter: .source))
        #expect(try Self.metrics(Self.listener(direction: .inbound, stats: nil)) == nil)
    }

    @Test func settingsItDoesNotImplementAreRefusedByName() throws {
        var stats = Google_Protobuf_Struct()
        stats.fields["disable_host_header_fallback"] = Google_Protobuf_Value(boolValue: true)
        #expect(throws: ProxyConfigError("listeners[db].filter_chains[0].metadata.filter_metadata[istio.stats]",
                                         "not supported by meshproxy: disable_host_header_fallback")) {
            try Self.metrics(Self.listener(direction: .inbound, stats: stats))
        }
    }

    /// `metrics: [{name, drop, tags_to_remove, dimensions}]`, istio-proxy's shape.
    static func overrides(_ entries: [[String: Google_Protobuf_Value]]) -> Google_Protobuf_Struct {
        var stats = Google_Protobuf_Struct()
        stats.fields["metrics"] = Google_Protobuf_Value(listValue: Google_Protobuf_ListValue(values: entries.map {
            Google_Protobuf_Value(structValue: Google_Protobuf_Struct(fields: $0))
        }))
        return stats
    }

    @Test func metricOverridesAreRead() throws {
        var dimensions = Google_Protobuf_Struct()
        dimensions.fields["request_host"] = Google_Protobuf_Value(stringValue: " request.host ")
        dimensions.fields["source_cluster"] = Google_Protobuf_Value(stringValue: "'east'")
        let stats = Self.overrides([
            ["name": Google_Protobuf_Value(stringValue: "request_bytes"), "drop": Google_Protobuf_Value(boolValue: true)],
            ["tags_to_remove": Google_Protobuf_Value(listValue: Google_Protobuf_ListValue(values: [Google_Protobuf_Value(stringValue: "request_protocol")])),
             "dimensions": Google_Protobuf_Value(structValue: dimensions)],
        ])
        let settings = try #require(try Self.metrics(Self.listener(direction: .inbound, stats: stats)))
        #expect(settings.reporter == .destination)
        #expect(settings.overrides?.rules == [
            IstioMetricOverrides.Rule(metric: .requestBytes, drop: true),
            IstioMetricOverrides.Rule(metric: nil, remove: ["request_protocol"], upsert: [("request_host", .requestHost), ("source_cluster", .literal("east"))]),
        ])
        // Two parses of one config are equal settings (a listener update with the same config changes nothing).
        #expect(try Self.metrics(Self.listener(direction: .inbound, stats: stats)) == settings)
    }

    @Test func overridesItCannotHonourAreRefusedWithTheirPath() throws {
        let base = "listeners[db].filter_chains[0].metadata.filter_metadata[istio.stats].metrics[0]"
        #expect(throws: ProxyConfigError("\(base).name", "unknown standard metric \"requests\" (known: \(IstioMetric.allCases.map(\.rawValue).joined(separator: ", ")))")) {
            try Self.metrics(Self.listener(direction: .inbound, stats: Self.overrides([["name": Google_Protobuf_Value(stringValue: "requests")]])))
        }
        var dimensions = Google_Protobuf_Struct()
        dimensions.fields["user"] = Google_Protobuf_Value(stringValue: "request.auth.claims['sub']")
        #expect(throws: ProxyConfigError("\(base).dimensions[user]", "expression \"request.auth.claims['sub']\" not supported by meshproxy (supported: "
                                         + "'literal', request.host, request.method, request.url_path, request.headers['name'], response.code)")) {
            try Self.metrics(Self.listener(direction: .inbound, stats: Self.overrides([["dimensions": Google_Protobuf_Value(structValue: dimensions)]])))
        }
        var badName = Google_Protobuf_Struct()
        badName.fields["user-agent"] = Google_Protobuf_Value(stringValue: "request.headers['user-agent']")
        #expect(throws: ProxyConfigError("\(base).dimensions[user-agent]", "not a Prometheus label name")) {
            try Self.metrics(Self.listener(direction: .inbound, stats: Self.overrides([["dimensions": Google_Protobuf_Value(structValue: badName)]])))
        }
    }

    @Test func aClusterNamesItsMeshServiceFromIstioMetadata() throws {
        var service = Google_Protobuf_Struct()
        service.fields["host"] = Google_Protobuf_Value(stringValue: "reviews.default.svc.cluster.local")
        service.fields["name"] = Google_Protobuf_Value(stringValue: "reviews")
        var istio = Google_Protobuf_Struct()
        istio.fields["services"] = Google_Protobuf_Value(listValue: Google_Protobuf_ListValue(values: [Google_Protobuf_Value(structValue: service)]))
        var metadata = Envoy_Config_Core_V3_Metadata()
        #expect(ClusterConfig.meshService(metadata) == nil)
        metadata.filterMetadata["istio"] = istio
        #expect(ClusterConfig.meshService(metadata) == "reviews.default.svc.cluster.local")
    }

    @Test func theWorkloadComesFromNodeMetadataThenTheNodeID() throws {
        var proto = Envoy_Config_Bootstrap_V3_Bootstrap()
        proto.node.id = "sidecar~127.0.1.4~ratings-v1-5d9f.default~default.svc.cluster.local"
        proto.dynamicResources.adsConfig.apiType = .deltaGrpc
        proto.dynamicResources.adsConfig.grpcServices = [Envoy_Config_Core_V3_GrpcService()]
        proto.dynamicResources.adsConfig.grpcServices[0].envoyGrpc.clusterName = "xds-grpc"
        var xds = Envoy_Config_Cluster_V3_Cluster()
        xds.name = "xds-grpc"
        xds.loadAssignment = ProxyConfigErrorTests.assignment(host: "127.0.0.1", port: 15010, cluster: "xds-grpc")
        proto.staticResources.clusters = [xds]
        let bare = try ProxyBootstrap(proto: proto).workload
        #expect(bare == WorkloadMetadata(workload: "ratings-v1-5d9f", namespace: "default", labels: [:], cluster: "Kubernetes"))

        var labels = Google_Protobuf_Struct()
        labels.fields["app"] = Google_Protobuf_Value(stringValue: "ratings")
        proto.node.metadata.fields = [
            "WORKLOAD_NAME": Google_Protobuf_Value(stringValue: "ratings-v1"),
            "NAMESPACE": Google_Protobuf_Value(stringValue: "shop"),
            "CLUSTER_ID": Google_Protobuf_Value(stringValue: "east"),
            "LABELS": Google_Protobuf_Value(structValue: labels),
        ]
        let described = try ProxyBootstrap(proto: proto).workload
        #expect(described == WorkloadMetadata(workload: "ratings-v1", namespace: "shop", labels: ["app": "ratings"], cluster: "east"))
    }

    @Test func peerMetadataRoundTripsThroughItsHeader() throws {
        let workload = WorkloadMetadata(workload: "reviews-v2", namespace: "default", labels: ["app": "reviews", "version": "v2"], cluster: "Kubernetes")
        let header = PeerMetadataHeaders.encode(workload)
        #expect(PeerMetadataHeaders.decode(header) == workload)
        // Not base64, or base64 of something that is not a Struct: nobody is named.
        #expect(PeerMetadataHeaders.decode("not base64!") == nil)
        #expect(PeerMetadataHeaders.decode(Base64.encode([0xFF, 0xFF, 0xFF])) == nil)
    }

    @Test func base64MatchesRFC4648() {
        let vectors = ["": "", "f": "Zg==", "fo": "Zm8=", "foo": "Zm9v", "foob": "Zm9vYg==", "fooba": "Zm9vYmE=", "foobar": "Zm9vYmFy"]
        for (plain, encoded) in vectors {
            #expect(Base64.encode(Array(plain.utf8)) == encoded)
            #expect(Base64.decode(encoded) == Array(plain.utf8))
        }
        #expect(Base64.decode("Zm9") == nil)  // not a multiple of four
        #expect(Base64.decode("Zg==Zg==") == nil)  // data after padding
    }
}
