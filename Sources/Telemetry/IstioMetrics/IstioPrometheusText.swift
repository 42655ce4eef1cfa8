// Istio's standard metrics in Prometheus' text format (0.0.4), as istio-proxy serves them on /stats/prometheus.

extension IstioMetricsSnapshot {
    /// Every family with at least one series, its series sorted by label values so scrapes are
    /// stable; histograms with Envoy's `le` bounds, then `_sum` and `_count`.
    public func prometheusText() -> String {
        var out = ""
        let requestSeries = requests.sorted { $0.key < $1.key }
        if !requestSeries.isEmpty {
            out += "# TYPE istio_requests_total counter\n"
            for (key, series) in requestSeries {
                out += "istio_requests_total{\(Self.labels(IstioSeries.requestLabels, key))} \(series.total)\n"
            }
            for (family, histogram) in [("istio_request_duration_milliseconds", \IstioSeries.Requests.durationMilliseconds),
                                        ("istio_request_bytes", \IstioSeries.Requests.requestBytes),
                                        ("istio_response_bytes", \IstioSeries.Requests.responseBytes)] {
                out += "# TYPE \(family) histogram\n"
                for (key, series) in requestSeries {
                    out += Self.histogram(family, labels: Self.labels(IstioSeries.requestLabels, key), series[keyPath: histogram])
                }
            }
        }
        let connectionSeries = connections.sorted { $0.key < $1.key }
        if !connectionSeries.isEmpty {
            for (family, value) in [("istio_tcp_connections_opened_total", \IstioSeries.Connections.opened),
                                    ("istio_tcp_connections_closed_total", \IstioSeries.Connections.closed),
                                    ("istio_tcp_sent_bytes_total", \IstioSeries.Connections.sentBytes),
                                    ("istio_tcp_received_bytes_total", \IstioSeries.Connections.receivedBytes)] {
                out += "# TYPE \(family) counter\n"
                for (key, series) in connectionSeries {
                    out += "\(family){\(Self.labels(IstioSeries.connectionLabels, key))} \(series[keyPath: value])\n"
                }
            }
        }
        return out
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
