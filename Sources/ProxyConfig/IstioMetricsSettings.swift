// Whether a filter chain records Istio's standard metrics, and as which reporter.

import EnvoyAPI
import SwiftProtobuf
import Telemetry

/// A filter chain whose metadata carries `istio.stats` records `istio_requests_total` and the
/// other standard metrics for what it serves, as istio-proxy's stats filter does. The reporter
/// follows from the listener's direction, as in istio-proxy: inbound listeners report as the
/// destination, outbound and gateway listeners as the source.
///
/// The settings travel as filter-chain metadata rather than as a filter: stock Envoy ignores
/// metadata, so the same listener drives both proxies, and HTTP and TCP chains are marked alike.
///
/// Telemetry metric overrides come in the metadata in istio-proxy's stats shape,
/// `metrics: [{name, drop, tags_to_remove, dimensions}]` (`name` empty or absent: every metric;
/// `dimensions` maps a tag to the expression that gives its value), resolved by the control
/// plane for this side of the proxy.
public struct IstioMetricsSettings: Sendable, Equatable {
    public static let metadataKey = "istio.stats"

    public var reporter: IstioRequestContext.Reporter
    /// nil: Istio's standard metrics as they are.
    public var overrides: IstioMetricOverrides?

    public init(reporter: IstioRequestContext.Reporter, overrides: IstioMetricOverrides? = nil) {
        self.reporter = reporter
        self.overrides = overrides
    }

    /// Equal settings from two parses of one config are equal (the overrides by their rules).
    public static func == (lhs: IstioMetricsSettings, rhs: IstioMetricsSettings) -> Bool {
        lhs.reporter == rhs.reporter && lhs.overrides?.rules == rhs.overrides?.rules
    }

    /// The settings in a filter chain's metadata; nil when the chain records no metrics. Keys
    /// this proxy does not implement are refused, naming them, rather than dropped.
    static func parse(_ metadata: Envoy_Config_Core_V3_Metadata, direction: ListenerConfig.Direction, at path: String) throws -> IstioMetricsSettings? {
        guard let settings = metadata.filterMetadata[metadataKey] else { return nil }
        let base = "\(path).metadata.filter_metadata[\(metadataKey)]"
        let unknown = settings.fields.keys.filter { $0 != "metrics" }.sorted()
        if !unknown.isEmpty {
            throw ProxyConfigError(base, "not supported by meshproxy: \(unknown.joined(separator: ", "))")
        }
        var rules: [IstioMetricOverrides.Rule] = []
        if let metrics = settings.fields["metrics"] {
            guard case .listValue(let list) = metrics.kind else { throw ProxyConfigError("\(base).metrics", "must be a list") }
            for (index, entry) in list.values.enumerated() {
                rules.append(try rule(entry, at: "\(base).metrics[\(index)]"))
            }
        }
        return IstioMetricsSettings(reporter: direction == .inbound ? .destination : .source,
                                    overrides: rules.isEmpty ? nil : IstioMetricOverrides(rules: rules))
    }

    private static func rule(_ entry: Google_Protobuf_Value, at path: String) throws -> IstioMetricOverrides.Rule {
        guard case .structValue(let fields) = entry.kind else { throw ProxyConfigError(path, "must be an object") }
        let unknown = fields.fields.keys.filter { !["name", "drop", "tags_to_remove", "dimensions"].contains($0) }.sorted()
        if !unknown.isEmpty { throw ProxyConfigError(path, "not supported by meshproxy: \(unknown.joined(separator: ", "))") }
        var rule = IstioMetricOverrides.Rule(metric: nil)
        if let name = fields.fields["name"] {
            guard case .stringValue(let text) = name.kind else { throw ProxyConfigError("\(path).name", "must be a string") }
            if !text.isEmpty {
                guard let metric = IstioMetric(rawValue: text) else {
                    throw ProxyConfigError("\(path).name", "unknown standard metric \"\(text)\" (known: \(IstioMetric.allCases.map(\.rawValue).joined(separator: ", ")))")
                }
                rule.metric = metric
            }
        }
        if let drop = fields.fields["drop"] {
            guard case .boolValue(let value) = drop.kind else { throw ProxyConfigError("\(path).drop", "must be true or false") }
            rule.drop = value
        }
        if let remove = fields.fields["tags_to_remove"] {
            guard case .listValue(let tags) = remove.kind else { throw ProxyConfigError("\(path).tags_to_remove", "must be a list of tag names") }
            for (index, tag) in tags.values.enumerated() {
                guard case .stringValue(let name) = tag.kind else { throw ProxyConfigError("\(path).tags_to_remove[\(index)]", "must be a tag name") }
                rule.remove.append(name)
            }
        }
        if let dimensions = fields.fields["dimensions"] {
            guard case .structValue(let tags) = dimensions.kind else { throw ProxyConfigError("\(path).dimensions", "must map tag names to expressions") }
            for (tag, value) in tags.fields.sorted(by: { $0.key < $1.key }) {
                let at = "\(path).dimensions[\(tag)]"
                guard PrometheusLabel.isValidName(tag) else { throw ProxyConfigError(at, "not a Prometheus label name") }
                guard case .stringValue(let expression) = value.kind else { throw ProxyConfigError(at, "must be an expression (a string)") }
                guard let parsed = IstioTagValue(expression: expression.trimmingWhitespace()) else {
                    throw ProxyConfigError(at, "expression \"\(expression)\" not supported by meshproxy (supported: 'literal', request.host, "
                                           + "request.method, request.url_path, request.headers['name'], response.code)")
                }
                rule.upsert.append((tag, parsed))
            }
        }
        return rule
    }
}
