// Telemetry API metric overrides as a proxy applies them: metrics dropped, tags removed, tags set per request.

/// Istio's standard metrics by the names istio-proxy's stats configuration uses (the
/// Prometheus family without its `istio_` prefix).
public enum IstioMetric: String, CaseIterable, Sendable {
    case requestsTotal = "requests_total"
    case requestDuration = "request_duration_milliseconds"
    case requestBytes = "request_bytes"
    case responseBytes = "response_bytes"
    case tcpConnectionsOpened = "tcp_connections_opened_total"
    case tcpConnectionsClosed = "tcp_connections_closed_total"
    case tcpSentBytes = "tcp_sent_bytes_total"
    case tcpReceivedBytes = "tcp_received_bytes_total"

    public var family: String { "istio_" + rawValue }
    public var isTCP: Bool { rawValue.hasPrefix("tcp_") }
}

/// The value an UPSERT gives a tag: one of the request attributes Istio's examples use, or a
/// literal. Istio writes these as CEL expressions; meshproxy evaluates this subset (the proxy
/// config refuses any other expression, naming it). A request attribute on a TCP connection,
/// or a header the request lacks, is `unknown`, as in Istio.
public enum IstioTagValue: Hashable, Sendable {
    case literal(String)
    case requestHost
    case requestMethod
    /// The path without its query (`request.url_path`).
    case requestURLPath
    case requestHeader(String)
    case responseCode

    /// `'text'` or `"text"`, `request.host`, `request.method`, `request.url_path`,
    /// `request.headers['name']` (or `["name"]`), `response.code`; nil for anything else.
    /// `text` comes without surrounding spaces.
    public init?(expression text: String) {
        if let literal = Self.quoted(text) {
            self = .literal(literal)
            return
        }
        switch text {
        case "request.host": self = .requestHost
        case "request.method": self = .requestMethod
        case "request.url_path": self = .requestURLPath
        case "response.code": self = .responseCode
        default:
            guard text.hasPrefix("request.headers["), text.hasSuffix("]"),
                  let name = Self.quoted(String(text.dropFirst("request.headers[".count).dropLast())), !name.isEmpty else { return nil }
            self = .requestHeader(name.lowercased())
        }
    }

    /// The tag's value for a request (nil: a TCP connection).
    func value(of record: AccessLogRecord?) -> String {
        guard let record else {
            if case .literal(let text) = self { return text }
            return "unknown"
        }
        switch self {
        case .literal(let text): return text
        case .requestHost: return record.requestHeaders?.first(name: "host") ?? "unknown"
        case .requestMethod: return record.method ?? "unknown"
        case .requestURLPath: return record.path.map { String($0.prefix { $0 != "?" }) } ?? "unknown"
        case .requestHeader(let name): return record.requestHeaders?.first(name: name) ?? "unknown"
        case .responseCode: return String(record.responseCode)
        }
    }

    private static func quoted(_ text: String) -> String? {
        guard text.count >= 2, let first = text.first, first == "'" || first == "\"", text.last == first else { return nil }
        let inner = text.dropFirst().dropLast()
        return inner.contains(first) ? nil : String(inner)
    }
}

/// What the Telemetry resources in force change for one side of a proxy (its client or server
/// side), per metric: dropped, tags taken off, tags set. Built once per filter chain config and
/// shared by its series, so a series hashes its address. Later rules win, as in Istio.
public final class IstioMetricOverrides: Hashable, Sendable {
    /// One override as the configuration states it (istio-proxy's `metrics` entry).
    public struct Rule: Sendable, Equatable {
        /// nil: every metric.
        public var metric: IstioMetric?
        public var drop = false
        public var remove: [String] = []
        public var upsert: [(tag: String, value: IstioTagValue)] = []

        public init(metric: IstioMetric?, drop: Bool = false, remove: [String] = [], upsert: [(tag: String, value: IstioTagValue)] = []) {
            self.metric = metric
            self.drop = drop
            self.remove = remove
            self.upsert = upsert
        }

        public static func == (lhs: Rule, rhs: Rule) -> Bool {
            lhs.metric == rhs.metric && lhs.drop == rhs.drop && lhs.remove == rhs.remove
                && lhs.upsert.map(\.tag) == rhs.upsert.map(\.tag) && lhs.upsert.map(\.value) == rhs.upsert.map(\.value)
        }
    }

    /// One metric's changes. `upserts` name a tag and the index of its value among `values`.
    struct Change: Sendable, Equatable {
        var drop = false
        var removed: Set<String> = []
        var upserts: [(tag: String, value: Int)] = []

        static func == (lhs: Change, rhs: Change) -> Bool {
            lhs.drop == rhs.drop && lhs.removed == rhs.removed && lhs.upserts.map(\.tag) == rhs.upserts.map(\.tag)
                && lhs.upserts.map(\.value) == rhs.upserts.map(\.value)
        }
    }

    public let rules: [Rule]
    /// The distinct values the upserts need, computed once per request.
    let values: [IstioTagValue]
    let changes: [IstioMetric: Change]

    public init(rules: [Rule]) {
        self.rules = rules
        var values: [IstioTagValue] = []
        var changes: [IstioMetric: Change] = [:]
        for rule in rules {
            for metric in rule.metric.map({ [$0] }) ?? IstioMetric.allCases {
                var change = changes[metric] ?? Change()
                if rule.drop { change.drop = true }
                for tag in rule.remove {
                    change.removed.insert(tag)
                    change.upserts.removeAll { $0.tag == tag }
                }
                for (tag, value) in rule.upsert {
                    let index = values.firstIndex(of: value) ?? { values.append(value); return values.count - 1 }()
                    change.removed.remove(tag)
                    if let existing = change.upserts.firstIndex(where: { $0.tag == tag }) {
                        change.upserts[existing].value = index
                    } else {
                        change.upserts.append((tag, index))
                    }
                }
                changes[metric] = change
            }
        }
        self.values = values
        self.changes = changes
    }

    /// Whether any metric of this kind (HTTP or TCP) is still recorded.
    public func records(tcp: Bool) -> Bool {
        IstioMetric.allCases.contains { $0.isTCP == tcp && changes[$0]?.drop != true }
    }

    /// The upserted tags' values for one request (nil record: a TCP connection).
    public func customValues(_ record: AccessLogRecord?) -> [String] {
        values.map { $0.value(of: record) }
    }

    /// A series' label names and values for `metric` after the changes; nil if it is dropped.
    /// `values` are the standard labels' values followed by `customValues`.
    func labels(_ names: [String], _ values: [String], metric: IstioMetric) -> [(String, String)]? {
        guard let change = changes[metric] else { return Array(zip(names, values)) }
        guard !change.drop else { return nil }
        var pairs = zip(names, values).filter { !change.removed.contains($0.0) }
        for (tag, index) in change.upserts {
            let value = values[names.count + index]
            if let existing = pairs.firstIndex(where: { $0.0 == tag }) {
                pairs[existing].1 = value
            } else {
                pairs.append((tag, value))
            }
        }
        return pairs
    }

    public static func == (lhs: IstioMetricOverrides, rhs: IstioMetricOverrides) -> Bool { lhs === rhs }
    public func hash(into hasher: inout Hasher) { hasher.combine(ObjectIdentifier(self)) }
}
