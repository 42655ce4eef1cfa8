// Istio's standard metrics in Prometheus' text format (0.0.4), as istio-proxy serves them on /stats/prometheus.

extension IstioMetricsSnapshot {
    /// Every family with at least one series, its series sorted by their labels so scrapes are
    /// stable; histograms with Envoy's `le` bounds, then `_sum` and `_count`. Telemetry overrides
    /// apply here: a dropped metric is left out, removed tags are taken off (and the series they
    /// told apart added together), set tags replace or follow the standard ones.
    public func prometheusText() -> String {
        var out = ""
        let requestFamilies: [(IstioMetric, KeyPath<IstioSeries.Requests, IstioHistogram>?)] = [
            (.requestsTotal, nil), (.requestDuration, \.durationMilliseconds), (.requestBytes, \.requestBytes), (.responseBytes, \.responseBytes),
        ]
        for (metric, histogram) in requestFamilies {
            let series = Self.family(requests, names: IstioSeries.requestLabels, metric: metric) { $0.merge($1) }
            guard !series.isEmpty else { continue }
            out += "# TYPE \(metric.family) \(histogram == nil ? "counter" : "histogram")\n"
            for (labels, values) in series {
                if let histogram {
                    out += Self.histogram(metric.family, labels: labels, values[keyPath: histogram])
                } else {
                    out += "\(metric.family){\(labels)} \(values.total)\n"
                }
            }
        }
        for (metric, value) in [(IstioMetric.tcpConnectionsOpened, \IstioSeries.Connections.opened),
                                (.tcpConnectionsClosed, \IstioSeries.Connections.closed),
                                (.tcpSentBytes, \IstioSeries.Connections.sentBytes),
                                (.tcpReceivedBytes, \IstioSeries.Connections.receivedBytes)] {
            let series = Self.family(connections, names: IstioSeries.connectionLabels, metric: metric) { $0.merge($1) }
            guard !series.isEmpty else { continue }
            out += "# TYPE \(metric.family) counter\n"
            for (labels, values) in series {
                out += "\(metric.family){\(labels)} \(values[keyPath: value])\n"
            }
        }
        return out
    }

    /// One family's series as rendered label sets, sorted. Series the Telemetry overrides made
    /// equal (a tag removed) are added together; a dropped metric has none.
    static func family<Values>(_ series: [IstioSeriesKey: Values], names: [String], metric: IstioMetric,
                               merge: (inout Values, Values) -> Void) -> [(String, Values)] {
        var rendered: [String: Values] = [:]
        for (key, values) in series {
            let labels: String
            if let overrides = key.overrides {
                guard let pairs = overrides.labels(names, key.values, metric: metric) else { continue }
                labels = pairs.map { name, value in "\(name)=\"\(PrometheusLabel.escape(value))\"" }.joined(separator: ",")
            } else {
                labels = Self.labels(names, key)
            }
            if var existing = rendered[labels] {
                merge(&existing, values)
                rendered[labels] = existing
            } else {
                rendered[labels] = values
            }
        }
        return rendered.sorted { $0.key < $1.key }
    }

    static func histogram(_ family: String, labels: String, _ histogram: IstioHistogram) -> String {
        var out = ""
        var cumulative: UInt64 = 0
        for (slot, bound) in IstioHistogram.boundLabels.enumerated() {
            cumulative += histogram.buckets[slot]
            out += "\(family)_bucket{\(labels),le=\"\(bound)\"} \(cumulative)\n"
        }
        out += "\(family)_bucket{\(labels),le=\"+Inf\"} \(histogram.count)\n"
        out += "\(family)_sum{\(labels)} \(number(histogram.sum))\n"
        out += "\(family)_count{\(labels)} \(histogram.count)\n"
        return out
    }

    /// `name="value",...` with Prometheus' escapes (backslash, quote, newline).
    static func labels(_ names: [String], _ key: IstioSeriesKey) -> String {
        zip(names, key.values).map { name, value in "\(name)=\"\(PrometheusLabel.escape(value))\"" }.joined(separator: ",")
    }

    /// Whole sums as integers (as Envoy prints them), others as Swift's shortest exact decimal.
    static func number(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 9_007_199_254_740_992 ? String(Int64(value)) : String(value)
    }
}
