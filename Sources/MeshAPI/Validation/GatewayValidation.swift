// Gateway rules: servers, their ports, hosts and TLS.

extension ValidationContext {
    mutating func validate(_ gateway: Gateway) {
        if !HostNames.isDNS1123Label(resource.name) && !resource.name.isEmpty {
            error(FieldPath.root / "metadata" / "name", "Gateway name \"\(resource.name)\" must be a DNS-1123 label (no dots): routes refer to it as namespace/name")
        }
        let servers = gateway.servers ?? []
        if servers.isEmpty { error(spec / "servers", "a Gateway needs at least one server") }
        var portNames: [String: Int] = [:]
        for (index, server) in servers.enumerated() {
            let path = spec / "servers" / index
            if let name = server.port?.name, !name.isEmpty {
                if let first = portNames[name] {
                    error(path / "port" / "name", "port name \"\(name)\" is already used by server #\(first); port names must be unique")
                } else {
                    portNames[name] = index
                }
            }
            let hosts = server.hosts ?? []
            if hosts.isEmpty { error(path / "hosts", "a server needs at least one host") }
            for (hostIndex, host) in hosts.enumerated() {
                for problem in HostNames.validateNamespacedHost(host, forGateway: true) { error(path / "hosts" / hostIndex, problem) }
            }
            guard let port = server.port else {
                error(path / "port", "a server needs a port")
                continue
            }
            let isUnix = server.bind?.hasPrefix("unix://") == true
            if !isUnix { check(path / "port" / "number", PortRule.problem(port.number)) }
            if (port.name ?? "").isEmpty { error(path / "port" / "name", "port name is required") }
            if port.targetPort != nil { error(path / "port" / "targetPort", "targetPort has no effect on Gateways") }
            let protocolName = port.protocolName ?? ""
            if protocolName.isEmpty {
                error(path / "port" / "protocol", "port protocol is required")
            } else {
                check(path / "port" / "protocol", ProtocolName.problem(protocolName))
            }
            if let bind = server.bind, !bind.isEmpty {
                if isUnix {
                    check(path / "bind", UnixAddressRule.problem(bind))
                    if (port.number ?? 0) != 0 { error(path / "port" / "number", "port number must be 0 when binding a unix domain socket") }
                } else if IPAddress.parse(bind) == nil {
                    error(path / "bind", "bind \"\(bind.truncatedForDisplay)\" is not a valid IP address")
                }
            }
            if ProtocolName.isTLS(protocolName) && server.tls == nil {
                error(path / "tls", "\(protocolName) servers need tls settings")
            }
            if let tls = server.tls {
                if !ProtocolName.isTLS(protocolName) && ProtocolName.canonical[protocolName.lowercased()] != nil {
                    let mode = tls.mode ?? .PASSTHROUGH
                    let hasCertificates = tls.caCertificates != nil || tls.privateKey != nil || tls.serverCertificate != nil
                    if ProtocolName.isHTTP(protocolName) {
                        if (mode != .PASSTHROUGH && mode != .AUTO_PASSTHROUGH) || hasCertificates {
                            error(path / "tls", "plain-text \(protocolName) servers cannot terminate TLS; use protocol HTTPS")
                        }
                    } else {
                        error(path / "tls", "tls settings need an HTTPS or TLS port, not \(protocolName)")
                    }
                }
                if tls.httpsRedirect == true && !ProtocolName.isHTTP(protocolName) {
                    warning(path / "tls" / "httpsRedirect", "httpsRedirect only applies to HTTP servers")
                }
                serverTLS(path / "tls", tls)
            }
        }
        selectorLabelsMap(spec / "selector", gateway.selector)
    }

    private mutating func selectorLabelsMap(_ path: FieldPath, _ selector: [String: String]?) {
        for (key, value) in (selector ?? [:]).sorted(by: { $0.key < $1.key }) {
            check(path / key, LabelRule.keyProblem(key))
            check(path / key, LabelRule.valueProblem(value))
        }
    }
}
