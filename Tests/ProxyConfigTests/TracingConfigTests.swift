// An HTTP connection manager's tracing as ConfigGen writes it (Istio's shape), and what meshproxy refuses.

import EnvoyAPI
@testable import ProxyConfig
import SwiftProtobuf
import Telemetry
import Testing

@Suite struct TracingConfigTests {
    typealias Manager = Envoy_Extensions_Filters_Network_HttpConnectionManager_V3_HttpConnectionManager

    static func manager(_ config: some SwiftProtobuf.Message, name: String, edit: (inout Manager.Tracing) -> Void = { _ in }) throws -> Manager {
        var manager = Manager()
        manager.tracing.provider.name = name
        manager.tracing.provider.typedConfig = try Google_Protobuf_Any(message: config)
        manager.tracing.randomSampling.value = 12.5
        manager.tracing.clientSampling.value = 100
        manager.tracing.overallSampling.value = 100
        edit(&manager.tracing)
        return manager
    }

    static func zipkin() -> Envoy_Config_Trace_V3_ZipkinConfig {
        var zipkin = Envoy_Config_Trace_V3_ZipkinConfig()
        zipkin.collectorEndpointVersion = .httpJson
        zipkin.traceID128Bit = true
        zipkin.sharedSpanContext = Google_Protobuf_BoolValue(false)
        zipkin.traceContextOption = .useB3WithW3CPropagation
        zipkin.collectorService.httpUri.uri = "http://zipkin.istio-system.svc.cluster.local/api/v2/spans"
        zipkin.collectorService.httpUri.cluster = "outbound|9411||zipkin.istio-system.svc.cluster.local"
        zipkin.collectorService.httpUri.timeout = Google_Protobuf_Duration(seconds: 5)
        return zipkin
    }

    @Test func istiosZipkinTracer() throws {
        let manager = try Self.manager(Self.zipkin(), name: "envoy.tracers.zipkin") { tracing in
            var tag = Envoy_Type_Tracing_V3_CustomTag()
            tag.tag = "user"
            tag.requestHeader.name = "End-User"
            tag.requestHeader.defaultValue = "anonymous"
            tracing.customTags = [tag]
        }
        let config = try #require(try TracingConfig.parse(manager, direction: .outbound, at: "hcm"))
        #expect(config.collector == .zipkin(.init(cluster: "outbound|9411||zipkin.istio-system.svc.cluster.local",
                                                  authority: "zipkin.istio-system.svc.cluster.local", path: "/api/v2/spans",
                                                  timeout: .seconds(5), headers: [])))
        #expect(config.propagation == .b3AndW3C)
        #expect(config.traceID128)
        #expect(config.randomSampling == 1250 && config.clientSampling == 10_000)
        #expect(config.spanKind == .client)
        #expect(config.customTags == [.requestHeader(name: "user", header: "end-user", defaultValue: "anonymous")])
        #expect(try TracingConfig.parse(manager, direction: .inbound, at: "hcm")?.spanKind == .server)
    }

    @Test func openTelemetryOverHTTPAndGRPC() throws {
        var http = Envoy_Config_Trace_V3_OpenTelemetryConfig()
        http.serviceName = "productpage.default"
        http.httpService.httpUri.uri = "otel.istio-system.svc.cluster.local/v1/traces"
        http.httpService.httpUri.cluster = "outbound|4318||otel.istio-system.svc.cluster.local"
        let overHTTP = try #require(try TracingConfig.parse(Self.manager(http, name: "envoy.tracers.opentelemetry"), direction: .inbound, at: "hcm"))
        #expect(overHTTP.collector == .otlpHTTP(.init(cluster: "outbound|4318||otel.istio-system.svc.cluster.local",
                                                      authority: "otel.istio-system.svc.cluster.local", path: "/v1/traces",
                                                      timeout: .seconds(5), headers: [])))
        #expect(overHTTP.propagation == .w3c && overHTTP.serviceName == "productpage.default")
        var grpc = Envoy_Config_Trace_V3_OpenTelemetryConfig()
        grpc.grpcService.envoyGrpc.clusterName = "outbound|4317||otel.istio-system.svc.cluster.local"
        grpc.grpcService.envoyGrpc.authority = "otel.istio-system.svc.cluster.local"
        let overGRPC = try #require(try TracingConfig.parse(Self.manager(grpc, name: "envoy.tracers.opentelemetry"), direction: .inbound, at: "hcm"))
        guard case .otlpGRPC(let target) = overGRPC.collector else { Issue.record("not gRPC: \(overGRPC.collector)"); return }
        #expect(target.path == "/opentelemetry.proto.collector.trace.v1.TraceService/Export")
    }

    @Test func aTracerWithoutItsClusterRefusesTheListenerAsEnvoyDoes() throws {
        var manager = try Self.manager(Self.zipkin(), name: "envoy.tracers.zipkin")
        manager.statPrefix = "outbound_0.0.0.0_9080"
        manager.routeConfig.name = "9080"
        var router = Envoy_Extensions_Filters_Network_HttpConnectionManager_V3_HttpFilter()
        router.name = "envoy.filters.http.router"
        router.typedConfig = try Google_Protobuf_Any(message: Envoy_Extensions_Filters_Http_Router_V3_Router())
        manager.httpFilters = [router]
        var listener = try AccessLogConfigTests.listener([])
        listener.name = "0.0.0.0_9080"
        listener.filterChains[0].filters[0].name = "envoy.filters.network.http_connection_manager"
        listener.filterChains[0].filters[0].typedConfig = try Google_Protobuf_Any(message: manager)
        let listeners = ["0.0.0.0_9080": try ListenerConfig(proto: listener, limits: ConfigLimits())]
        #expect(throws: ProxyConfigError("0.0.0.0_9080", "tracing: envoy.tracers.zipkin: unknown cluster 'outbound|9411||zipkin.istio-system.svc.cluster.local'")) {
            try TracingConfig.checkCollectorClusters(listeners, clusters: [:])
        }
        var cluster = Envoy_Config_Cluster_V3_Cluster()
        cluster.name = "outbound|9411||zipkin.istio-system.svc.cluster.local"
        cluster.type = .eds
        cluster.edsClusterConfig.edsConfig.ads = Envoy_Config_Core_V3_AggregatedConfigSource()
        try TracingConfig.checkCollectorClusters(listeners, clusters: [cluster.name: try ClusterConfig(proto: cluster, limits: ConfigLimits())])
    }

    @Test func whatMeshproxyCannotDoIsRefusedWithItsPath() throws {
        var shared = Self.zipkin()
        shared.clearSharedSpanContext()  // Envoy's default: shared
        #expect(throws: ProxyConfigError("hcm.tracing.provider.typed_config.shared_span_context",
                                         "must be false: meshproxy does not share spans between client and server")) {
            try TracingConfig.parse(Self.manager(shared, name: "envoy.tracers.zipkin"), direction: .inbound, at: "hcm")
        }
        #expect(throws: ProxyConfigError("hcm.tracing", "not supported by meshproxy: verbose")) {
            try TracingConfig.parse(Self.manager(Self.zipkin(), name: "envoy.tracers.zipkin") { $0.verbose = true }, direction: .inbound, at: "hcm")
        }
        #expect(throws: ProxyConfigError("hcm.tracing.custom_tags[0].metadata", "metadata span tags are not supported by meshproxy")) {
            try TracingConfig.parse(Self.manager(Self.zipkin(), name: "envoy.tracers.zipkin") { tracing in
                var tag = Envoy_Type_Tracing_V3_CustomTag()
                tag.tag = "policy"
                tag.metadata.metadataKey.key = "envoy.filters.http.rbac"
                tracing.customTags = [tag]
            }, direction: .inbound, at: "hcm")
        }
        #expect(throws: ProxyConfigError("hcm.tracing.provider.name",
                                         "tracer envoy.tracers.datadog is not supported by meshproxy (envoy.tracers.zipkin, envoy.tracers.opentelemetry)")) {
            try TracingConfig.parse(Self.manager(Self.zipkin(), name: "envoy.tracers.datadog"), direction: .inbound, at: "hcm")
        }
        #expect(throws: ProxyConfigError("hcm.tracing.random_sampling", "must be between 0 and 100, got 150.0")) {
            try TracingConfig.parse(Self.manager(Self.zipkin(), name: "envoy.tracers.zipkin") { $0.randomSampling.value = 150 }, direction: .inbound, at: "hcm")
        }
    }
}
