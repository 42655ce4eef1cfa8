// Puts a proxy's tracing on every HTTP connection manager of its listeners: the tracer, its collector, sampling and span tags.

import EnvoyAPI
import MeshAPI
import MeshModel
import SwiftProtobuf

/// Istio sets `tracing` per connection manager from the Telemetry tracing of its side: inbound
/// listeners are the server side, outbound and gateway listeners the client side. Envoy learns
/// the span kind from the listener's traffic direction. Done after the listeners are built, as
/// access logs and metrics are.
enum TracingAttachment {
    static let zipkinName = "envoy.tracers.zipkin"
    static let openTelemetryName = "envoy.tracers.opentelemetry"

    static func attach(to listeners: inout [Envoy_Config_Listener_V3_Listener], snapshot: MeshSnapshot, proxy: MeshProxy) throws {
        let client = try snapshot.tracing(namespace: proxy.namespace, labels: proxy.labels, clientSide: true)
            .map { try tracing($0, snapshot: snapshot, proxy: proxy) }
        let server = try snapshot.tracing(namespace: proxy.namespace, labels: proxy.labels, clientSide: false)
            .map { try tracing($0, snapshot: snapshot, proxy: proxy) }
        guard client != nil || server != nil else { return }
        for index in listeners.indices {
            guard let tracing = listeners[index].trafficDirection == .inbound ? server : client else { continue }
            for chain in listeners[index].filterChains.indices {
                try attach(tracing, to: &listeners[index].filterChains[chain].filters)
            }
            if listeners[index].hasDefaultFilterChain {
                try attach(tracing, to: &listeners[index].defaultFilterChain.filters)
            }
        }
    }

    /// The collector services the proxy's tracers (client and server side) report to.
    static func collectorHosts(snapshot: MeshSnapshot, proxy: MeshProxy) -> Set<String> {
        Set([true, false].compactMap { snapshot.tracing(namespace: proxy.namespace, labels: proxy.labels, clientSide: $0)?.service.hostname })
    }

    typealias Tracing = Envoy_Extensions_Filters_Network_HttpConnectionManager_V3_HttpConnectionManager.Tracing

    private static func attach(_ tracing: Tracing, to filters: inout [Envoy_Config_Listener_V3_Filter]) throws {
        for index in filters.indices where filters[index].name == HTTPConnectionManagerFactory.filterName {
            var manager = try Envoy_Extensions_Filters_Network_HttpConnectionManager_V3_HttpConnectionManager(unpackingAny: filters[index].typedConfig)
            manager.tracing = tracing
            filters[index].typedConfig = try Google_Protobuf_Any(message: manager)
        }
    }

    /// Istio's HCM tracing for one side (its `configureTracingFromTelemetry`).
    static func tracing(_ setting: TracingSetting, snapshot: MeshSnapshot, proxy: MeshProxy) throws -> Tracing {
        var tracing = Tracing()
        tracing.provider = try provider(setting, serviceCluster: BootstrapGenerator.serviceCluster(namespace: proxy.namespace, labels: proxy.labels,
                                                                                              workloadName: proxy.id.name))
        tracing.randomSampling.value = setting.samplingPercentage
        tracing.clientSampling.value = 100
        tracing.overallSampling.value = 100
        var maxTagLength: UInt32 = 0
        switch setting.collector {
        case .zipkin(let zipkin): maxTagLength = zipkin.maxTagLength ?? 0
        case .openTelemetry(let otel): maxTagLength = otel.maxTagLength ?? 0
        }
        if maxTagLength > 0 { tracing.maxPathTagLength = Google_Protobuf_UInt32Value(maxTagLength) }
        var tags: [Envoy_Type_Tracing_V3_CustomTag] = []
        if setting.istioTags {
            let meshID = snapshot.meshConfig.defaultConfig?.meshId ?? snapshot.meshConfig.effectiveTrustDomain
            tags += [
                literal("istio.canonical_revision", canonicalRevision(proxy.labels)),
                literal("istio.canonical_service", canonicalService(proxy.labels, workloadName: proxy.id.name)),
                literal("istio.cluster_id", "Kubernetes"),
                literal("istio.mesh_id", meshID),
                literal("istio.namespace", proxy.namespace),
            ]
        }
        for (name, tag) in setting.customTags.sorted(by: { $0.key < $1.key }) {
            var custom = Envoy_Type_Tracing_V3_CustomTag()
            custom.tag = name
            if let value = tag.literal {
                custom.literal.value = value.value ?? ""
            } else if let environment = tag.environment {
                custom.environment.name = environment.name ?? ""
                custom.environment.defaultValue = environment.defaultValue ?? ""
            } else if let header = tag.header {
                custom.requestHeader.name = header.name ?? ""
                custom.requestHeader.defaultValue = header.defaultValue ?? ""
            } else {
                continue  // validation reports a tag with no kind
            }
            tags.append(custom)
        }
        tracing.customTags = tags
        return tracing
    }

    private static func literal(_ name: String, _ value: String) -> Envoy_Type_Tracing_V3_CustomTag {
        var tag = Envoy_Type_Tracing_V3_CustomTag()
        tag.tag = name
        tag.literal.value = value
        return tag
    }

    /// Istio's canonical service: its label, else `app.kubernetes.io/name`, else `app`, else the workload.
    static func canonicalService(_ labels: [String: String], workloadName: String) -> String {
        labels["service.istio.io/canonical-name"] ?? labels["app.kubernetes.io/name"] ?? labels["app"] ?? workloadName
    }

    /// Istio's canonical revision: its label, else `app.kubernetes.io/version`, else `version`, else `latest`.
    static func canonicalRevision(_ labels: [String: String]) -> String {
        labels["service.istio.io/canonical-revision"] ?? labels["app.kubernetes.io/version"] ?? labels["version"] ?? "latest"
    }

    private static func provider(_ setting: TracingSetting, serviceCluster: String) throws -> Envoy_Config_Trace_V3_Tracing.Http {
        let hostname = setting.service.hostname
        let cluster = ClusterNames.outbound(port: setting.port, host: hostname)
        var provider = Envoy_Config_Trace_V3_Tracing.Http()
        switch setting.collector {
        case .zipkin(let zipkin):
            var config = Envoy_Config_Trace_V3_ZipkinConfig()
            config.collectorEndpointVersion = .httpJson
            config.traceID128Bit = zipkin.enable64bitTraceId != true
            config.sharedSpanContext = Google_Protobuf_BoolValue(false)
            config.traceContextOption = zipkin.traceContextOption == .USE_B3_WITH_W3C_PROPAGATION ? .useB3WithW3CPropagation : .useB3
            let path = (zipkin.path ?? "").isEmpty ? "/api/v2/spans" : zipkin.path!
            config.collectorService.httpUri.uri = "http://\(hostname)\(path)"
            config.collectorService.httpUri.cluster = cluster
            config.collectorService.httpUri.timeout = protoDuration(zipkin.timeout, defaultSeconds: 5)
            config.collectorService.requestHeadersToAdd = headers(zipkin.headers)
            provider.name = zipkinName
            provider.typedConfig = try Google_Protobuf_Any(message: config)
        case .openTelemetry(let otel):
            var config = Envoy_Config_Trace_V3_OpenTelemetryConfig()
            config.serviceName = serviceCluster
            if let http = otel.http {
                let path = (http.path ?? "").isEmpty ? "/v1/traces" : http.path!
                config.httpService.httpUri.uri = hostname + (path.hasPrefix("/") ? path : "/" + path)
                config.httpService.httpUri.cluster = cluster
                config.httpService.httpUri.timeout = protoDuration(http.timeout, defaultSeconds: 5)
                config.httpService.requestHeadersToAdd = headers(http.headers)
            } else {
                config.grpcService.envoyGrpc.clusterName = cluster
                config.grpcService.envoyGrpc.authority = hostname
                if let timeout = otel.grpc?.timeout { config.grpcService.timeout = protoDuration(timeout, defaultSeconds: 0) }
                config.grpcService.initialMetadata = (otel.grpc?.initialMetadata ?? []).compactMap { header in
                    guard let name = header.name, let value = header.value else { return nil }
                    var pair = Envoy_Config_Core_V3_HeaderValue()
                    pair.key = name
                    pair.value = value
                    return pair
                }
            }
            provider.name = openTelemetryName
            provider.typedConfig = try Google_Protobuf_Any(message: config)
        }
        return provider
    }

    /// Headers with literal values (those read from an environment variable are Istio's agent's
    /// business; validation warns that SwiftMesh leaves them out).
    private static func headers(_ list: [ExtensionProvider.HttpHeader]?) -> [Envoy_Config_Core_V3_HeaderValueOption] {
        (list ?? []).compactMap { header in
            guard let name = header.name, let value = header.value else { return nil }
            var option = Envoy_Config_Core_V3_HeaderValueOption()
            option.header.key = name
            option.header.value = value
            option.appendAction = .overwriteIfExistsOrAdd
            return option
        }
    }

    private static func protoDuration(_ duration: ProtoDuration?, defaultSeconds: Int64) -> Google_Protobuf_Duration {
        guard let duration else { return Google_Protobuf_Duration(seconds: defaultSeconds) }
        let nanoseconds = duration.nanoseconds
        return Google_Protobuf_Duration(seconds: nanoseconds / 1_000_000_000, nanos: Int32(nanoseconds % 1_000_000_000))
    }
}
