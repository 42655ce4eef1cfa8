// VirtualService rules: hosts, gateways, delegation, TLS and TCP routes.
extension ValidationContext {
    mutating func validate(_ service: VirtualService) {
        let hosts = service.hosts ?? []
        let isDelegate = hosts.isEmpty
        if isDelegate {
            // A VirtualService without hosts can only be the target of a `delegate`.
            if !(service.gateways ?? []).isEmpty { error(spec / "gateways", "a delegate VirtualService (one without hosts) must not set gateways") }
            if !(service.tls ?? []).isEmpty { error(spec / "tls", "a delegate VirtualService (one without hosts) must not have tls routes") }
            if !(service.tcp ?? []).isEmpty { error(spec / "tcp", "a delegate VirtualService (one without hosts) must not have tcp routes") }
        }
        gatewayNames(spec / "gateways", service.gateways)
        let gateways = service.gateways ?? []
        let appliesToMesh = gateways.isEmpty || gateways.contains("mesh")
        var validHosts: [(Int, String)] = []
        for (index, host) in hosts.enumerated() {
            if host == "*" && appliesToMesh {
                error(spec / "hosts" / index, "wildcard host \"*\" is not allowed for VirtualServices bound to the mesh")
                continue
            }
            if let problem = HostNames.validateWildcardDomain(host), IPAddress.parse(host) == nil {
                error(spec / "hosts" / index, problem)
            } else {
                validHosts.append((index, host))
            }
        }
        for (position, (index, host)) in validHosts.enumerated() {
            for (_, earlier) in validHosts.prefix(position) where HostNames.matches(earlier, host) {
                error(spec / "hosts" / index, "duplicate hosts in VirtualService: \"\(earlier)\" and \"\(host)\" overlap")
            }
        }
        if (service.http ?? []).isEmpty && (service.tcp ?? []).isEmpty && (service.tls ?? []).isEmpty {
            error(spec, "a VirtualService must have http, tcp or tls routes")
        }
        let isRoot = !isDelegate
        for (index, route) in (service.http ?? []).enumerated() {
            httpRoute(spec / "http" / index, route, isDelegateService: isDelegate, isRoot: isRoot && route.delegate != nil,
                      appliesToMesh: appliesToMesh)
        }
        unreachableHTTPRules(service.http ?? [])
        for (index, route) in (service.tls ?? []).enumerated() {
            tlsRoute(spec / "tls" / index, route, hosts: hosts)
        }
        for (index, route) in (service.tcp ?? []).enumerated() {
            let path = spec / "tcp" / index
            for (matchIndex, match) in (route.match ?? []).enumerated() {
                let matchPath = path / "match" / matchIndex
                for (subnetIndex, subnet) in (match.destinationSubnets ?? []).enumerated() {
                    check(matchPath / "destinationSubnets" / subnetIndex, IPAddress.validateAddressOrCIDR(subnet))
                }
                if let port = match.port, port != 0 { check(matchPath / "port", PortRule.problem(port)) }
                labels(matchPath / "sourceLabels", match.sourceLabels)
                gatewayNames(matchPath / "gateways", match.gateways)
                if let namespace = match.sourceNamespace, !HostNames.isKubernetesLabel(namespace) {
                    error(matchPath / "sourceNamespace", "sourceNamespace \"\(namespace.truncatedForDisplay)\" is not a valid namespace name")
                }
            }
            routeDestinations(path / "route", route.route, required: "a TCP route needs at least one destination")
        }
        exportTo(service.exportTo)
    }

    mutating func gatewayNames(_ path: FieldPath, _ gateways: [String]?) {
        for (index, gateway) in (gateways ?? []).enumerated() {
            if gateway == "mesh" { continue }
            guard let slash = gateway.firstIndex(of: "/") else {
                let parts = gateway.split(separator: ".", maxSplits: 2).map(String.init)
                if parts.count >= 2 {
                    warning(path / index, "gateway \"\(gateway)\" uses the legacy name.namespace form; prefer \"\(parts[1])/\(parts[0])\"")
                }
                check(path / index, HostNames.validateFQDN(gateway).map { "invalid gateway name: \($0)" })
                continue
            }
            let namespace = String(gateway[..<slash])
            let name = String(gateway[gateway.index(after: slash)...])
            if namespace.isEmpty || name.isEmpty {
                error(path / index, "gateway \"\(gateway)\" must be namespace/name with neither part empty")
            } else if !HostNames.isDNS1123Label(namespace) {
                error(path / index, "invalid namespace \"\(namespace.truncatedForDisplay)\" in gateway \"\(gateway.truncatedForDisplay)\"")
            } else if !HostNames.isDNS1123Label(name) {
                error(path / index, "invalid gateway name \"\(name.truncatedForDisplay)\" in \"\(gateway.truncatedForDisplay)\"")
            }
        }
    }

    private mutating func tlsRoute(_ path: FieldPath, _ route: TLSRoute, hosts: [String]) {
        if (route.match ?? []).isEmpty { error(path / "match", "a TLS route needs at least one match") }
        for (index, match) in (route.match ?? []).enumerated() {
            let matchPath = path / "match" / index
            let sniHosts = match.sniHosts ?? []
            if sniHosts.isEmpty { error(matchPath / "sniHosts", "a TLS match needs at least one SNI host") }
            for (hostIndex, sni) in sniHosts.enumerated() {
                if IPAddress.parse(sni) != nil {
                    warning(matchPath / "sniHosts" / hostIndex, "SNI host \"\(sni)\" is an IP address; the SNI spec forbids that and most clients never send it")
                    continue
                }
                if let problem = HostNames.validateWildcardDomain(sni) {
                    error(matchPath / "sniHosts" / hostIndex, problem)
                } else if !hosts.isEmpty && !hosts.contains("") /* a host that failed to decode */
                            && !hosts.contains(where: { HostNames.isSubset(sni, of: $0) }) {
                    error(matchPath / "sniHosts" / hostIndex, "SNI host \"\(sni)\" is not covered by any of the VirtualService hosts (\(hosts.joined(separator: ", ")))")
                }
            }
            for (subnetIndex, subnet) in (match.destinationSubnets ?? []).enumerated() {
                check(matchPath / "destinationSubnets" / subnetIndex, IPAddress.validateAddressOrCIDR(subnet))
            }
            if let port = match.port, port != 0 { check(matchPath / "port", PortRule.problem(port)) }
            labels(matchPath / "sourceLabels", match.sourceLabels)
            gatewayNames(matchPath / "gateways", match.gateways)
        }
        routeDestinations(path / "route", route.route, required: "a TLS route needs at least one destination")
    }

    /// TLS and TCP route destinations, weighted as HTTP ones are.
    private mutating func routeDestinations(_ path: FieldPath, _ routes: [RouteDestination]?, required: String) {
        weightedDestinations(path, (routes ?? []).map { ($0.destination, $0.weight) }, required: required)
    }
}
