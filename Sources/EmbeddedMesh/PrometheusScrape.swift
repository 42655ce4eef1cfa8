// The Prometheus a mesh run can start: what it scrapes (every proxy and meshd) and how.

/// A Prometheus configuration for one mesh run, as Istio's Prometheus add-on scrapes a
/// cluster: every proxy's Istio and Envoy metrics (job `mesh-proxies`, each target labelled with
/// its proxy's name and the workload it serves) and meshd's own (job `meshd`, istiod's names).
/// Every second, since the mesh is local and the demo's readers expect to see a request counted
/// at once.
public struct PrometheusScrape: Sendable, Equatable {
    public struct Target: Sendable, Equatable {
        /// `host:port` the proxy serves `/stats/prometheus` on (admin, or meshproxy's merged 15020).
        public var address: String
        /// The proxy's name in the run (`reviews-v1-sidecar`, `istio-ingressgateway`).
        public var proxy: String
        /// The workload it serves (the gateway's own name for the gateway).
        public var workload: String

        public init(address: String, proxy: String, workload: String) {
            self.address = address
            self.proxy = proxy
            self.workload = workload
        }
    }

    public var proxies: [Target]
    /// meshd's debug address (`/metrics`).
    public var meshd: String
    public var interval = "1s"

    public init(proxies: [Target], meshd: String) {
        self.proxies = proxies
        self.meshd = meshd
    }

    /// `prometheus.yml`. Addresses and names come from the mesh plan (loopback addresses,
    /// workload names MeshAPI validated as DNS labels), so they need no YAML quoting beyond
    /// the double quotes used here.
    public var yaml: String {
        var lines = [
            "# Written by the mesh run: the proxies' and meshd's metrics.",
            "global:",
            "  scrape_interval: \(interval)",
            "  evaluation_interval: \(interval)",
            "scrape_configs:",
            "  - job_name: mesh-proxies",
            "    metrics_path: /stats/prometheus",
            "    static_configs:",
        ]
        for target in proxies {
            lines.append("      - targets: [\"\(target.address)\"]")
            lines.append("        labels: {proxy: \"\(target.proxy)\", workload: \"\(target.workload)\"}")
        }
        lines += [
            "  - job_name: meshd",
            "    metrics_path: /metrics",
            "    static_configs:",
            "      - targets: [\"\(meshd)\"]",
        ]
        return lines.joined(separator: "\n") + "\n"
    }
}
