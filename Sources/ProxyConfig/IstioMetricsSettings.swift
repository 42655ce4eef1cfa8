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
public struct IstioMetricsSettings: Sendable, Equatable {
    public static let metadataKey = "istio.stats"

    public var reporter: IstioRequestContext.Reporter

    public init(reporter: IstioRequestContext.Reporter) {
        self.reporter = reporter
    }

    /// The settings in a filter chain's metadata; nil when the chain records no metrics. Keys
    /// this proxy does not implement are refused, naming them, rather than dropped.
    static func parse(_ metadata: Envoy_Config_Core_V3_Metadata, direction: ListenerConfig.Direction, at path: String) throws -> IstioMetricsSettings? {
        guard let settings = metadata.filterMetadata[metadataKey] else { return nil }
        let unknown = settings.fields.keys.sorted()
        if !unknown.isEmpty {
            throw ProxyConfigError("\(path).metadata.filter_metadata[\(metadataKey)]", "not supported by meshproxy: \(unknown.joined(separator: ", "))")
        }
        return IstioMetricsSettings(reporter: direction == .inbound ? .destination : .source)
    }
}
