// Where traffic is sent: route, mirror and egress-proxy destinations.

extension ValidationContext {
    mutating func destination(_ path: FieldPath, _ destination: Destination?) {
        guard let destination else { return }
        guard let host = destination.host, !host.isEmpty else {
            error(path / "host", "destination host is required")
            return
        }
        if host == "*" {
            error(path / "host", "destination host cannot be \"*\"")
        } else {
            check(path / "host", HostNames.validateWildcardDomain(host))
        }
        if let subset = destination.subset, !subset.isEmpty, !HostNames.isDNS1123Label(subset) {
            error(path / "subset", "subset name \"\(subset.truncatedForDisplay)\" is invalid: it must be a DNS-1123 label")
        }
        if let port = destination.port {
            check(path / "port" / "number", PortRule.problem(port.number))
        }
    }
}
