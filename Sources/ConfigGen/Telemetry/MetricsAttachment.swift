// Marks what records Istio's standard metrics: filter chains (istio.stats) and the services behind clusters (istio.services).

import EnvoyAPI
import MeshAPI
import MeshModel
import SwiftProtobuf

/// Istio's standard metrics are on for every proxy unless a Telemetry resource turns the
/// Prometheus provider's metrics off (`overrides: [{disabled: true}]` for all metrics). Every
/// filter chain that ends in an HTTP connection manager or a TCP proxy then carries
/// `istio.stats` metadata; meshproxy records from it, and stock Envoy, which ignores
/// metadata, serves its native stats (it cannot emit `istio_*` without istio-proxy's filters).
/// Done after the listeners are built, as access logs are, so no listener builder knows of it.
enum MetricsAttachment {
    static let chainKey = "istio.stats"

    static func attach(to listeners: inout [Envoy_Config_Listener_V3_Listener], snapshot: MeshSnapshot, proxy: MeshProxy) {
        guard snapshot.standardMetricsEnabled(namespace: proxy.namespace, labels: proxy.labels) else { return }
        for index in listeners.indices {
            for chain in listeners[index].filterChains.indices { mark(&listeners[index].filterChains[chain]) }
            if listeners[index].hasDefaultFilterChain { mark(&listeners[index].defaultFilterChain) }
        }
    }

    private static func mark(_ chain: inout Envoy_Config_Listener_V3_FilterChain) {
        guard let terminal = chain.filters.last?.name,
              terminal == HTTPConnectionManagerFactory.filterName || terminal == TCPProxyFactory.filterName else { return }
        chain.metadata.filterMetadata[chainKey] = Google_Protobuf_Struct()
    }

    /// Istio's cluster metadata naming the services a cluster reaches
    /// (`filter_metadata.istio.services: [{host, name, namespace}]`): the metrics'
    /// `destination_service`, and for meshproxy the sign that the upstream is in the mesh.
    static func services(_ services: [MeshService]) -> Envoy_Config_Core_V3_Metadata {
        var metadata = Envoy_Config_Core_V3_Metadata()
        guard !services.isEmpty else { return metadata }
        let list = services.map { service -> Google_Protobuf_Value in
            var fields = Google_Protobuf_Struct()
            fields.fields["host"] = Google_Protobuf_Value(stringValue: service.hostname)
            fields.fields["name"] = Google_Protobuf_Value(stringValue: Self.shortName(service))
            fields.fields["namespace"] = Google_Protobuf_Value(stringValue: service.namespace)
            return Google_Protobuf_Value(structValue: fields)
        }
        var istio = Google_Protobuf_Struct()
        istio.fields["services"] = Google_Protobuf_Value(listValue: Google_Protobuf_ListValue(values: list))
        metadata.filterMetadata["istio"] = istio
        return metadata
    }

    /// `reviews.default.svc.cluster.local` → `reviews`; a ServiceEntry host is its own name.
    private static func shortName(_ service: MeshService) -> String {
        let parts = service.hostname.split(separator: ".")
        return parts.count >= 3 && parts[2] == "svc" ? String(parts[0]) : service.hostname
    }
}

extension MeshSnapshot {
    /// Whether a workload's proxy records Istio's standard metrics: on, unless the most specific
    /// Telemetry resource with metrics settings (workload, then namespace, then mesh) disables
    /// all metrics for the Prometheus provider. Per-metric and per-tag overrides are not
    /// translated yet (README, "Not yet").
    func standardMetricsEnabled(namespace: String, labels: [String: String]) -> Bool {
        let root = meshConfig.effectiveRootNamespace
        let telemetries = resources(of: .telemetry).compactMap { resource -> (MeshResource, Telemetry)? in
            guard case .telemetry(let spec) = resource.spec, spec.targetRef == nil, (spec.targetRefs ?? []).isEmpty,
                  spec.metrics != nil else { return nil }
            return (resource, spec)
        }
        let workload = telemetries.first { resource, spec in
            guard resource.namespace == namespace, let selector = spec.selector?.matchLabels, !selector.isEmpty else { return false }
            return selector.allSatisfy { labels[$0.key] == $0.value }
        }
        let namespaceWide = telemetries.first { $0.0.namespace == namespace && ($0.1.selector?.matchLabels ?? [:]).isEmpty }
        let mesh = telemetries.first { $0.0.namespace == root && ($0.1.selector?.matchLabels ?? [:]).isEmpty }
        guard let (_, spec) = workload ?? namespaceWide ?? mesh else { return true }
        for metrics in spec.metrics ?? [] {
            let providers = (metrics.providers ?? []).compactMap(\.name)
            guard providers.isEmpty || providers.contains("prometheus") else { continue }
            for override in metrics.overrides ?? [] where override.disabled == true {
                if (override.match?.metric ?? .ALL_METRICS) == .ALL_METRICS, override.match?.customMetric == nil,
                   (override.match?.mode ?? .CLIENT_AND_SERVER) == .CLIENT_AND_SERVER {
                    return false
                }
            }
        }
        return true
    }
}
