// The merged metrics of port 15020: the proxy's own text, then the app's, as Istio's agent serves them to one scrape.

/// Joins the proxy's Prometheus text and its app's into one exposition, as Istio's agent does on
/// `:15020/stats/prometheus` (so one scrape annotation covers both). Prometheus rejects a scrape
/// in which a family appears twice, so an app family whose name the proxy already uses is left
/// out (with its samples, `# HELP` and `# TYPE`), and OpenMetrics' `# EOF` is dropped.
public enum PrometheusMerge {
    public static func merge(proxy: String, app: String) -> String {
        var families = Set<Substring>()
        for line in proxy.split(separator: "\n") {
            if let family = declaredFamily(line) {
                families.insert(family)
            } else if !line.hasPrefix("#"), let name = sampleName(line) {
                families.insert(name)
            }
        }
        var out = proxy
        if !out.isEmpty, !out.hasSuffix("\n") { out += "\n" }
        for line in app.split(separator: "\n", omittingEmptySubsequences: true) {
            if line == "# EOF" { continue }
            if let family = declaredFamily(line) {
                if families.contains(family) { continue }
            } else if !line.hasPrefix("#"), let name = sampleName(line) {
                if families.contains(name) || suffixes.contains(where: { name.hasSuffix($0) && families.contains(name.dropLast($0.count)) }) {
                    continue
                }
            }
            out += line
            out += "\n"
        }
        return out
    }

    /// The sample suffixes of histograms, summaries and counters, after their family's name.
    private static let suffixes = ["_bucket", "_sum", "_count", "_total", "_created"]

    /// The family a `# HELP name ...` or `# TYPE name ...` line is about.
    private static func declaredFamily(_ line: Substring) -> Substring? {
        guard line.hasPrefix("# HELP ") || line.hasPrefix("# TYPE ") else { return nil }
        let rest = line.dropFirst(7)
        return rest.split(separator: " ", maxSplits: 1).first
    }

    /// The metric name of a sample line (up to its labels or value).
    private static func sampleName(_ line: Substring) -> Substring? {
        let end = line.firstIndex { $0 == "{" || $0 == " " } ?? line.endIndex
        return end == line.startIndex ? nil : line[..<end]
    }
}

/// Where the app serves its own Prometheus metrics (Istio reads them from the pod's
/// `prometheus.io/port` and `prometheus.io/path` annotations).
public struct AppMetricsTarget: Sendable, Equatable, CustomStringConvertible {
    public var host: String
    public var port: Int
    public var path: String

    /// `HOST:PORT/PATH` (the path defaults to `/metrics`).
    public init?(parsing text: String) {
        let slash = text.firstIndex(of: "/") ?? text.endIndex
        let address = text[..<slash]
        guard let colon = address.lastIndex(of: ":"), let port = Int(address[address.index(after: colon)...]),
              (1...65535).contains(port), colon > address.startIndex else { return nil }
        host = String(address[..<colon])
        self.port = port
        path = slash == text.endIndex ? "/metrics" : String(text[slash...])
    }

    public var description: String { "\(host):\(port)\(path)" }
}
