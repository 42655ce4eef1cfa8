// Port numbers and the protocol names Istio gives ports.

enum PortRule {
    /// A port number is required and within 1..65535.
    static func problem(_ port: UInt32?) -> String? {
        guard let port else { return "port number is required" }
        return (1...65535).contains(port) ? nil : "port number \(port) must be in the range 1..65535"
    }

    /// A port written as text (AuthorizationPolicy ports, portLevelMtls keys): digits only.
    static func number(fromText text: String) -> UInt32? {
        guard !text.isEmpty, text.utf8.count <= 5, text.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else { return nil }
        return UInt32(text).flatMap { $0 <= 65535 ? $0 : nil }
    }
}

/// Istio's protocol names, matched case-insensitively.
public enum ProtocolName {
    /// Canonical spelling, keyed by lower case.
    static let canonical: [String: String] = [
        "tcp": "TCP", "udp": "UDP", "grpc": "GRPC", "grpc-web": "GRPC-Web", "http": "HTTP",
        "http_proxy": "HTTP_PROXY", "http2": "HTTP2", "https": "HTTPS", "tls": "TLS",
        "mongo": "Mongo", "redis": "Redis", "mysql": "MySQL",
    ]

    /// The canonical spelling of a protocol name (`http` → `HTTP`), or nil if Istio has none.
    public static func canonicalName(_ name: String) -> String? {
        canonical[name.lowercased()]
    }

    static func problem(_ name: String) -> String? {
        if canonical[name.lowercased()] != nil { return nil }
        var message = "unsupported protocol \"\(name.truncatedForDisplay)\"; use one of HTTP, HTTPS, HTTP2, GRPC, GRPC-Web, TCP, TLS, UDP, HTTP_PROXY, Mongo, Redis, MySQL"
        if let guess = Suggestion.closest(to: name, among: Array(canonical.values)) {
            message += " (did you mean \"\(guess)\"?)"
        }
        return message
    }

    static func isHTTP(_ name: String?) -> Bool {
        guard let name else { return false }
        return ["HTTP", "HTTP2", "HTTP_PROXY", "GRPC", "GRPC-Web"].contains(canonical[name.lowercased()] ?? "")
    }

    static func isTLS(_ name: String?) -> Bool {
        guard let name else { return false }
        return ["HTTPS", "TLS"].contains(canonical[name.lowercased()] ?? "")
    }
}

extension ValidationContext {
    /// A Gateway, Sidecar or ServiceEntry port.
    mutating func port(_ path: FieldPath, _ port: Port?, protocolRequired: Bool, nameRequired: Bool) {
        guard let port else { return }
        check(path / "number", PortRule.problem(port.number))
        if let name = port.name, !name.isEmpty {
            if !HostNames.isDNS1123Label(name) { error(path / "name", "port name \"\(name.truncatedForDisplay)\" must be a DNS-1123 label") }
        } else if nameRequired {
            error(path / "name", "port name is required")
        }
        if let protocolName = port.protocolName, !protocolName.isEmpty {
            check(path / "protocol", ProtocolName.problem(protocolName))
        } else if protocolRequired {
            error(path / "protocol", "port protocol is required")
        }
    }
}
