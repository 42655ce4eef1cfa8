// Which tracer a workload's proxy reports spans to, and how it samples, by the Telemetry API's precedence.

import MeshAPI

/// One side's tracing: the collector, the sampling percentage and the span tags. nil from
/// `tracing(…)` means the proxy's connection managers carry no tracing at all.
public struct TracingSetting: Hashable, Sendable {
    public enum Collector: Hashable, Sendable {
        /// Zipkin's v2 JSON API.
        case zipkin(ExtensionProvider.Zipkin)
        /// OTLP, over HTTP when `http` is set, else gRPC.
        case openTelemetry(ExtensionProvider.OpenTelemetry)
    }

    /// The extension provider's name.
    public var provider: String
    public var collector: Collector
    /// The collector's service (its hostname) and port, as the registry knows them.
    public var service: MeshService
    public var port: UInt32
    /// 0–100.
    public var samplingPercentage: Double
    /// Telemetry's `customTags`, by tag name.
    public var customTags: [String: Telemetry.Tracing.CustomTag]
    /// Istio's own `istio.*` span tags (on unless `enableIstioTags: false`).
    public var istioTags: Bool
}

extension MeshSnapshot {
    /// The tracing of a workload's proxy on the client side (outbound and gateway listeners) or
    /// the server side (inbound), merged as Istio merges Telemetry resources: mesh (root
    /// namespace, no selector), then namespace, then workload. Each `tracing` entry for this side
    /// replaces the provider if it names one, the sampling percentage and `disableSpanReporting`
    /// if set, and adds its custom tags over those in force. The mesh config's default tracing
    /// provider applies until one is named. No provider, a disabled one, or a provider meshproxy
    /// and ConfigGen cannot express (anything but zipkin and opentelemetry, or a service the
    /// registry does not know) gives nil; `meshctl validate` reports the last two.
    public func tracing(namespace: String, labels: [String: String], clientSide: Bool) -> TracingSetting? {
        let levels = telemetryLevels(namespace: namespace, labels: labels)
        var provider = meshConfig.defaultProviders?.tracing?.first
        var sampling: Double?
        var disabled = false
        var customTags: [String: Telemetry.Tracing.CustomTag] = [:]
        var istioTags = true
        for level in levels {
            // Istio reads the first tracing entry of a resource (validation warns about the rest).
            guard let entry = level.tracing?.first else { continue }
            switch entry.match?.mode ?? .CLIENT_AND_SERVER {
            case .CLIENT_AND_SERVER: break
            case .CLIENT: if !clientSide { continue }
            case .SERVER: if clientSide { continue }
            }
            if let named = entry.providers?.compactMap(\.name).first(where: { !$0.isEmpty }) { provider = named }
            if let percentage = entry.randomSamplingPercentage { sampling = percentage }
            if let off = entry.disableSpanReporting { disabled = off }
            if let on = entry.enableIstioTags { istioTags = on }
            for (name, tag) in entry.customTags ?? [:] { customTags[name] = tag }
        }
        guard !disabled, meshConfig.enableTracing != false || !levels.isEmpty, let provider,
              let defined = meshConfig.extensionProviders?.first(where: { $0.name == provider }) else { return nil }
        let collector: TracingSetting.Collector
        let serviceName: String?
        let port: UInt32?
        if let zipkin = defined.zipkin {
            collector = .zipkin(zipkin)
            (serviceName, port) = (zipkin.service, zipkin.port)
        } else if let otel = defined.opentelemetry {
            collector = .openTelemetry(otel)
            (serviceName, port) = (otel.service, otel.port)
        } else {
            return nil
        }
        guard let serviceName, let port, let service = collectorService(serviceName) else { return nil }
        return TracingSetting(provider: provider, collector: collector, service: service, port: port,
                              samplingPercentage: sampling ?? defaultSamplingPercentage, customTags: customTags, istioTags: istioTags)
    }

    /// `defaultConfig.tracing.sampling` when set and in range, else Istio's 1%.
    private var defaultSamplingPercentage: Double {
        if case .object(let tracing)? = meshConfig.defaultConfig?.tracing, case .number(let sampling)? = tracing["sampling"],
           sampling > 0, sampling <= 100 {
            return sampling
        }
        return 1
    }

    /// A provider's `service`: a hostname, or `namespace/hostname` as Istio also accepts.
    public func collectorService(_ name: String) -> MeshService? {
        let hostname = name.split(separator: "/", maxSplits: 1).last.map(String.init) ?? name
        return registry.services(named: hostname).first
    }
}
