// Host-name rules as Istio applies them: DNS-1123 labels, wildcards, FQDNs, `namespace/host`.

enum HostNames {
    /// A DNS-1123 label; Istio allows upper case.
    static func isDNS1123Label(_ label: String) -> Bool {
        let bytes = Array(label.utf8)
        guard !bytes.isEmpty, bytes.count <= 63 else { return false }
        func alnum(_ b: UInt8) -> Bool { (b >= 48 && b <= 57) || (b >= 65 && b <= 90) || (b >= 97 && b <= 122) }
        guard alnum(bytes.first!), alnum(bytes.last!) else { return false }
        return bytes.allSatisfy { alnum($0) || $0 == UInt8(ascii: "-") }
    }

    /// A lower-case DNS-1123 label, as Kubernetes requires of namespace names.
    static func isKubernetesLabel(_ label: String) -> Bool {
        isDNS1123Label(label) && label == label.lowercased()
    }

    /// A DNS-1123 subdomain (lower case), as Kubernetes requires of object names.
    static func isDNS1123Subdomain(_ name: String) -> Bool {
        guard !name.isEmpty, name.utf8.count <= 253 else { return false }
        return name.split(separator: ".", omittingEmptySubsequences: false).allSatisfy { isKubernetesLabel(String($0)) }
    }

    private static func preconditions(_ name: String) -> String? {
        if name.isEmpty { return "empty host name is not allowed" }
        if name.utf8.count > 255 { return "host name \"\(name.truncatedForDisplay)\" is too long (at most 255 characters)" }
        return nil
    }

    private static func labels(_ domain: String, whole: String) -> String? {
        var parts = domain.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        if let last = parts.last, Int64(last) != nil {
            return "host name \"\(whole)\" is invalid: the top-level domain \"\(last)\" cannot be all numeric"
        }
        if parts.count > 1, parts.last == "" { parts.removeLast() }  // a trailing dot is allowed
        for label in parts where !isDNS1123Label(label) {
            return label.isEmpty
                ? "host name \"\(whole)\" is invalid: it has an empty label"
                : "host name \"\(whole)\" is invalid: label \"\(label.truncatedForDisplay)\" is not a DNS-1123 label"
        }
        return nil
    }

    /// A fully qualified or short host name, no wildcards.
    static func validateFQDN(_ name: String) -> String? {
        preconditions(name) ?? labels(name, whole: name)
    }

    /// A host name whose first label may be a wildcard (`*`, `*.example.com`).
    static func validateWildcardDomain(_ name: String) -> String? {
        if let problem = preconditions(name) { return problem }
        let first: String
        let rest: String?
        if let dot = name.firstIndex(of: ".") {
            first = String(name[..<dot])
            rest = String(name[name.index(after: dot)...])
        } else {
            first = name
            rest = nil
        }
        if !isWildcardLabel(first) {
            return "host name \"\(name.truncatedForDisplay)\" is invalid: label \"\(first.truncatedForDisplay)\" is not a DNS-1123 label or wildcard"
        }
        if let rest { return labels(rest, whole: name) }
        return nil
    }

    static func isWildcardLabel(_ label: String) -> Bool {
        if label == "*" { return true }
        if label.hasPrefix("*-") { return isDNS1123Label(String(label.dropFirst(2))) }
        if label.hasPrefix("*") { return isDNS1123Label(String(label.dropFirst())) }
        return isDNS1123Label(label)
    }

    /// Partial wildcards such as `*foo.com` (Envoy only matches whole leading labels).
    static func partialWildcardProblem(_ host: String) -> String? {
        if host.contains("*") && host != "*" && !host.hasPrefix("*.") {
            return "partial wildcard \"\(host)\" is not allowed; use \"*\" or a leading \"*.\" label"
        }
        return nil
    }

    /// `namespace/dnsName` as Gateway servers and Sidecar egress listeners write hosts.
    static func validateNamespacedHost(_ entry: String, forGateway: Bool) -> [String] {
        guard let slash = entry.firstIndex(of: "/") else {
            if forGateway { return hostPart(entry) }
            return ["host \"\(entry)\" must be of the form namespace/dnsName (e.g. \"./\(entry)\" or \"*/\(entry)\")"]
        }
        let namespace = String(entry[..<slash])
        let host = String(entry[entry.index(after: slash)...])
        if namespace.isEmpty || host.isEmpty {
            return ["namespace and host name in \"\(entry)\" cannot be empty"]
        }
        var problems: [String] = []
        let special: Set<String> = forGateway ? ["*", "."] : ["*", ".", "~"]
        if !special.contains(namespace) && !isDNS1123Label(namespace) {
            problems.append("invalid namespace \"\(namespace)\" in \"\(entry)\"; use a namespace name, \".\", \"*\"\(forGateway ? "" : " or \"~\"")")
        }
        return problems + hostPart(host)
    }

    private static func hostPart(_ host: String) -> [String] {
        if host != "*" && !host.contains(".") {
            return ["short name \"\(host)\" is not allowed here; write the fully qualified name (e.g. \(host).default.svc.cluster.local)"]
        }
        if let problem = validateWildcardDomain(host), IPAddress.parse(host) == nil { return [problem] }
        if let problem = partialWildcardProblem(host) { return [problem] }
        return []
    }

    /// Whether `name` matches `pattern` in Istio's host semantics (`*.a.com` matches `b.a.com`).
    static func matches(_ a: String, _ b: String) -> Bool {
        let aWild = a.hasPrefix("*"), bWild = b.hasPrefix("*")
        switch (aWild, bWild) {
        case (true, true):
            return a.count > b.count ? a.dropFirst().hasSuffix(b.dropFirst()) : b.dropFirst().hasSuffix(a.dropFirst())
        case (true, false): return b.hasSuffix(a.dropFirst())
        case (false, true): return a.hasSuffix(b.dropFirst())
        case (false, false): return a == b
        }
    }

    /// Whether every name `host` covers is covered by `other` (`a.b.com` ⊂ `*.b.com` ⊂ `*.com`).
    static func isSubset(_ host: String, of other: String) -> Bool {
        switch (host.hasPrefix("*"), other.hasPrefix("*")) {
        case (true, true): return host.count >= other.count && host.dropFirst().hasSuffix(other.dropFirst())
        case (true, false): return false
        case (false, true): return host.hasSuffix(other.dropFirst())
        case (false, false): return host == other
        }
    }
}
