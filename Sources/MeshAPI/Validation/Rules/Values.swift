// Value rules shared by every kind: durations, ports, percentages, protocols, labels, exportTo.

enum Values {
    /// Istio's rule for most durations: at least 1ms and a whole number of milliseconds.
    static func durationProblem(_ duration: ProtoDuration, allowZero: Bool = false) -> String? {
        if allowZero && duration.nanoseconds == 0 { return nil }
        if duration.nanoseconds < 1_000_000 {
            return "duration \"\(duration.text)\" must be at least 1ms"
        }
        if duration.nanoseconds % 1_000_000 != 0 {
            return "duration \"\(duration.text)\" must be a whole number of milliseconds"
        }
        return nil
    }

    static func portProblem(_ port: UInt32) -> String? {
        (1...65535).contains(port) ? nil : "port number \(port) must be in the range 1..65535"
    }

    /// Protocol names Istio understands (case-insensitive), keyed by their lower-case spelling.
    static let protocols: [String: String] = [
        "tcp": "TCP", "udp": "UDP", "grpc": "GRPC", "grpc-web": "GRPC-Web", "http": "HTTP",
        "http_proxy": "HTTP_PROXY", "http2": "HTTP2", "https": "HTTPS", "tls": "TLS",
        "mongo": "Mongo", "redis": "Redis", "mysql": "MySQL",
    ]

    static func protocolProblem(_ name: String) -> String? {
        if protocols[name.lowercased()] != nil { return nil }
        var message = "unsupported protocol \"\(name.truncatedForDisplay)\"; use one of HTTP, HTTPS, HTTP2, GRPC, GRPC-Web, TCP, TLS, UDP, HTTP_PROXY, Mongo, Redis, MySQL"
        if let guess = Suggestion.closest(to: name, among: Array(protocols.values)) {
            message += " (did you mean \"\(guess)\"?)"
        }
        return message
    }

    static func isHTTPProtocol(_ name: String?) -> Bool {
        guard let name else { return false }
        return ["HTTP", "HTTP2", "HTTP_PROXY", "GRPC", "GRPC-Web"].contains(protocols[name.lowercased()] ?? "")
    }

    static func isTLSProtocol(_ name: String?) -> Bool {
        guard let name else { return false }
        return ["HTTPS", "TLS"].contains(protocols[name.lowercased()] ?? "")
    }

    /// Kubernetes label keys: optional DNS-subdomain prefix and `/`, then a name of at most 63.
    static func labelKeyProblem(_ key: String) -> String? {
        var name = Substring(key)
        if let slash = key.firstIndex(of: "/") {
            let prefix = String(key[..<slash])
            name = key[key.index(after: slash)...]
            if prefix.utf8.count > 253 || prefix.isEmpty
                || !prefix.split(separator: ".", omittingEmptySubsequences: false).allSatisfy({ HostNames.isDNS1123Label(String($0)) }) {
                return "invalid label key \"\(key.truncatedForDisplay)\": the prefix must be a DNS subdomain"
            }
        }
        if name.utf8.count > 63 { return "invalid label key \"\(key.truncatedForDisplay)\": the name is longer than 63 characters" }
        if !isQualifiedName(String(name)) || name.isEmpty {
            return "invalid label key \"\(key.truncatedForDisplay)\": use letters, digits, '-', '_' and '.', starting and ending with a letter or digit"
        }
        return nil
    }

    static func labelValueProblem(_ value: String) -> String? {
        if value.isEmpty { return nil }
        if value.utf8.count > 63 { return "invalid label value \"\(value.truncatedForDisplay)\": longer than 63 characters" }
        return isQualifiedName(value) ? nil
            : "invalid label value \"\(value.truncatedForDisplay)\": use letters, digits, '-', '_' and '.', starting and ending with a letter or digit"
    }

    private static func isQualifiedName(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        guard let first = bytes.first, let last = bytes.last else { return false }
        func alnum(_ b: UInt8) -> Bool { (b >= 48 && b <= 57) || (b >= 65 && b <= 90) || (b >= 97 && b <= 122) }
        return alnum(first) && alnum(last) && bytes.allSatisfy { alnum($0) || $0 == 45 || $0 == 95 || $0 == 46 }
    }

    /// HTTP header names: RFC 7230 token characters.
    static func headerNameProblem(_ name: String) -> String? {
        if name.isEmpty { return "header name cannot be empty" }
        let allowed = Set("!#$%&'*+-.^_`|~".utf8)
        let valid = name.utf8.allSatisfy { ($0 >= 48 && $0 <= 57) || ($0 >= 65 && $0 <= 90) || ($0 >= 97 && $0 <= 122) || allowed.contains($0) }
        return valid ? nil : "\"\(name.truncatedForDisplay)\" is not a valid HTTP header name"
    }

    static let pseudoHeaders: Set<String> = [":method", ":scheme", ":authority", ":path", ":status"]

    /// Keys of `headers` / `withoutHeaders` matches: header names, pseudo headers, or JWT claims
    /// (`@request.auth.claims.group`).
    static func headerMatchKeyProblem(_ name: String) -> String? {
        if pseudoHeaders.contains(name.lowercased()) { return nil }
        if name.lowercased().hasPrefix("@request.auth.claims") {
            let rest = name.dropFirst("@request.auth.claims".count)
            if (rest.hasPrefix(".") && rest.count > 1) || (rest.hasPrefix("[") && rest.hasSuffix("]") && rest.count > 2) { return nil }
            return "\"\(name)\" is not a valid JWT claim reference; write @request.auth.claims.NAME or @request.auth.claims[NAME]"
        }
        return headerNameProblem(name)
    }

    /// Control characters other than tab are not allowed in header values.
    static func headerValueProblem(_ value: String) -> String? {
        for scalar in value.unicodeScalars where (scalar.value < 0x20 && scalar.value != 0x09) || scalar.value == 0x7F {
            return "header value \"\(value.truncatedForDisplay)\" contains a control character"
        }
        return nil
    }

    /// `exportTo` entries: `.`, `*`, `~` (ServiceEntry only) or a namespace; `*` stands alone.
    static func exportToProblems(_ entries: [String], namespace: String, allowNone: Bool) -> [(Int, String)] {
        var problems: [(Int, String)] = []
        var seen: Set<String> = []
        for (index, entry) in entries.enumerated() {
            if entry == "~" && !allowNone {
                problems.append((index, "exportTo \"~\" (no one) is only allowed in ServiceEntry"))
            } else if entry != "." && entry != "*" && entry != "~" && !HostNames.isKubernetesLabel(entry) {
                problems.append((index, "exportTo entry \"\(entry.truncatedForDisplay)\" must be \".\", \"*\"\(allowNone ? ", \"~\"" : "") or a namespace name"))
            }
            let normalized = entry == "." ? namespace : entry
            if !seen.insert(normalized).inserted {
                problems.append((index, "duplicate exportTo entry \"\(entry)\"" + (entry == "." || entry == namespace ? " (\".\" is the resource's own namespace \(namespace))" : "")))
            }
        }
        if entries.contains("*") && entries.count > 1 {
            problems.append((entries.firstIndex(of: "*")!, "exportTo \"*\" (everyone) cannot be combined with other entries"))
        }
        if entries.contains("~") && entries.count > 1 {
            problems.append((entries.firstIndex(of: "~")!, "exportTo \"~\" (no one) cannot be combined with other entries"))
        }
        return problems
    }

    /// Percent values of faults: 0, or between 0.0001 and 100.
    static func percentageProblem(_ value: Double) -> String? {
        if value == 0 || (value >= 0.0001 && value <= 100) { return nil }
        return "percentage \(formatted(value)) must be between 0 and 100"
    }

    static func formatted(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : String(value)
    }

    /// Unix socket addresses (`unix:///path` or `unix://@abstract`).
    static func unixAddressProblem(_ address: String) -> String? {
        let path = address.hasPrefix("unix://") ? String(address.dropFirst("unix://".count)) : address
        if path.isEmpty { return "unix address must not be empty" }
        if path.hasPrefix("@") { return nil }
        if !path.hasPrefix("/") || path.hasSuffix("/") { return "\(path) is not an absolute path to a file" }
        return nil
    }
}
