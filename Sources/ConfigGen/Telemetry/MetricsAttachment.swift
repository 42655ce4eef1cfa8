// Marks what records Istio's standard metrics: filter chains (istio.stats) and the services behind clusters (istio.services).

import EnvoyAPI
import MeshAPI
import MeshModel
import SwiftProtobuf

/// Istio's standard metrics are on for every proxy unless Telemetry resources turn the
/// Prometheus provider's metrics off. Every filter chain that ends in an HTTP connection manager
/// or a TCP proxy then carries `istio.stats` metadata; meshproxy records from it, and stock
/// Envoy, which ignores metadata, serves its native stats (it cannot emit `istio_*` without
/// istio-proxy's filters). The Telemetry metric overrides for the chain's side of the proxy
/// (inbound listeners are the server side) travel in it in istio-proxy's stats shape:
/// `metrics: [{name, drop, tags_to_remove, dimensions}]`. Done after the listeners are built,
/// as access logs are, so no listener builder knows of it.
enum MetricsAttachment {
    static let chainKey = "istio.stats"

    static func attach(to listeners: inout [Envoy_Config_Listener_V3_Listener], snapshot: MeshSnapshot, proxy: MeshProxy) {
        let telemetries = snapshot.metricsTelemetries(namespace: proxy.namespace, labels: proxy.labels)
        let client = statsSettings(telemetries, mode: .CLIENT)
        let server = statsSettings(telemetries, mode: .SERVER)
        for index in listeners.indices {
            guard let settings = listeners[index].trafficDirection == .inbound ? server : client else { continue }
            for chain in listeners[index].filterChains.indices { mark(&listeners[index].filterChains[chain], settings) }
            if listeners[index].hasDefaultFilterChain { mark(&listeners[index].defaultFilterChain, settings) }
        }
    }

    private static func mark(_ chain: inout Envoy_Config_Listener_V3_FilterChain, _ settings: Google_Protobuf_Struct) {
        guard let terminal = chain.filters.last?.name,
              terminal == HTTPConnectionManagerFactory.filterName || terminal == TCPProxyFactory.filterName else { return }
        chain.metadata.filterMetadata[chainKey] = settings
    }

    /// The standard metrics by istio-proxy's stats names, in its order.
    static let metricNames: [(Telemetry.MetricSelector.IstioMetric, String)] = [
        (.REQUEST_COUNT, "requests_total"), (.REQUEST_DURATION, "request_duration_milliseconds"),
        (.REQUEST_SIZE, "request_bytes"), (.RESPONSE_SIZE, "response_bytes"),
        (.TCP_OPENED_CONNECTIONS, "tcp_connections_opened_total"), (.TCP_CLOSED_CONNECTIONS, "tcp_connections_closed_total"),
        (.TCP_SENT_BYTES, "tcp_sent_bytes_total"), (.TCP_RECEIVED_BYTES, "tcp_received_bytes_total"),
    ]

    /// One side's `istio.stats` settings, merging the overrides of the Prometheus provider as
    /// Istio does: mesh, then namespace, then workload, each override in order, a later one
    /// winning per metric and per tag (`disabled: false` turns a metric back on). nil when every
    /// metric is off for that side: its chains record nothing. gRPC message counts and custom
    /// metrics are not recorded by meshproxy, so their overrides change nothing.
    static func statsSettings(_ telemetries: [Telemetry], mode: Telemetry.WorkloadMode) -> Google_Protobuf_Struct? {
        var disabled: [String: Bool] = [:]
        var tags: [String: [String: Telemetry.MetricsOverrides.TagOverride]] = [:]
        for telemetry in telemetries {
            for metrics in telemetry.metrics ?? [] {
                let providers = (metrics.providers ?? []).compactMap(\.name)
                guard providers.isEmpty || providers.contains("prometheus") else { continue }
                for override in metrics.overrides ?? [] {
                    let overrideMode = override.match?.mode ?? .CLIENT_AND_SERVER
                    guard overrideMode == .CLIENT_AND_SERVER || overrideMode == mode, override.match?.customMetric == nil else { continue }
                    let selected = override.match?.metric ?? .ALL_METRICS
                    let names = metricNames.filter { selected == .ALL_METRICS || $0.0 == selected }.map(\.1)
                    for name in names {
                        if let off = override.disabled { disabled[name] = off }
                        for (tag, change) in override.tagOverrides ?? [:] { tags[name, default: [:]][tag] = change }
                    }
                }
            }
        }
        if metricNames.allSatisfy({ disabled[$0.1] == true }) { return nil }
        var entries: [Google_Protobuf_Value] = []
        for (_, name) in metricNames {
            var entry = Google_Protobuf_Struct()
            if disabled[name] == true {
                entry.fields["drop"] = Google_Protobuf_Value(boolValue: true)
            } else {
                let changes = (tags[name] ?? [:]).sorted { $0.key < $1.key }
                let removed = changes.filter { $0.value.operation == .REMOVE }.map { Google_Protobuf_Value(stringValue: $0.key) }
                var dimensions = Google_Protobuf_Struct()
                for (tag, change) in changes where change.operation != .REMOVE {
                    dimensions.fields[tag] = Google_Protobuf_Value(stringValue: change.value ?? "")
                }
                if !removed.isEmpty { entry.fields["tags_to_remove"] = Google_Protobuf_Value(listValue: Google_Protobuf_ListValue(values: removed)) }
                if !dimensions.fields.isEmpty { entry.fields["dimensions"] = Google_Protobuf_Value(structValue: dimensions) }
            }
            guard !entry.fields.isEmpty else { continue }
            entry.fields["name"] = Google_Protobuf_Value(stringValue: name)
            entries.append(Google_Protobuf_Value(structValue: entry))
        }
        var settings = Google_Protobuf_Struct()
        if !entries.isEmpty { settings.fields["metrics"] = Google_Protobuf_Value(listValue: Google_Protobuf_ListValue(values: entries)) }
        return settings
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
    /// The Telemetry resources with metrics settings that apply to a workload, least specific
    /// first (mesh-wide in the root namespace, then its namespace, then those selecting it), the
    /// order Istio merges their overrides in.
    func metricsTelemetries(namespace: String, labels: [String: String]) -> [Telemetry] {
        telemetryLevels(namespace: namespace, labels: labels) { $0.metrics != nil }
    }
}
