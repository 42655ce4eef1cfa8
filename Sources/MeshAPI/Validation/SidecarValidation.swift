// Sidecar rules: ingress and egress listeners, binds, capture modes and egress hosts.

extension ValidationContext {
    mutating func validate(_ sidecar: Sidecar) {
        if let selector = sidecar.workloadSelector {
            selectorLabels(spec / "workloadSelector" / "labels", selector.labels ?? [:])
        }
        if sidecar.ingress == nil && sidecar.egress == nil && sidecar.outboundTrafficPolicy == nil && sidecar.inboundConnectionPool == nil {
            error(spec, "a Sidecar must set ingress, egress, outboundTrafficPolicy or inboundConnectionPool")
            return
        }
        var ingressPorts: Set<UInt32> = []
        for (index, listener) in (sidecar.ingress ?? []).enumerated() {
            let path = spec / "ingress" / index
            guard let port = listener.port else {
                error(path / "port", "an ingress listener needs a port")
                continue
            }
            if port.targetPort != nil { error(path / "port" / "targetPort", "targetPort has no effect on Sidecars") }
            self.port(path / "port", port, protocolRequired: false, nameRequired: false)
            if let number = port.number, !ingressPorts.insert(number).inserted {
                error(path / "port" / "number", "ingress port \(number) is used twice; ports on IP-bound listeners must be unique")
            }
            if let bind = listener.bind, !bind.isEmpty, IPAddress.parse(bind) == nil {
                error(path / "bind", "bind \"\(bind.truncatedForDisplay)\" is not a valid IP address")
            }
            if let endpoint = listener.defaultEndpoint, !endpoint.isEmpty {
                check(path / "defaultEndpoint", Self.defaultEndpointProblem(endpoint))
            }
            if let tls = listener.tls {
                let tlsPath = path / "tls"
                if tls.subjectAltNames != nil { error(tlsPath / "subjectAltNames", "subjectAltNames is not supported in Sidecar ingress TLS") }
                if tls.httpsRedirect != nil { error(tlsPath / "httpsRedirect", "httpsRedirect is not supported in Sidecar ingress TLS") }
                if tls.credentialName != nil { error(tlsPath / "credentialName", "credentialName is not supported in Sidecar ingress TLS") }
                if tls.credentialNames != nil { error(tlsPath / "credentialNames", "credentialNames is not supported in Sidecar ingress TLS") }
                if tls.tlsCertificates != nil { error(tlsPath / "tlsCertificates", "tlsCertificates is not supported in Sidecar ingress TLS") }
                if let mode = tls.mode, mode == .ISTIO_MUTUAL || mode == .AUTO_PASSTHROUGH {
                    error(tlsPath / "mode", "mode \(mode.rawValue) cannot be used in Sidecar ingress TLS")
                }
                if !ProtocolName.isTLS(port.protocolName) {
                    error(tlsPath, "tls settings need an HTTPS or TLS port, not \(port.protocolName ?? "an unset protocol")")
                }
                serverTLS(tlsPath, tls)
            }
            connectionPool(path / "connectionPool", listener.connectionPool)
            if listener.connectionPool?.http != nil, let protocolName = port.protocolName, !ProtocolName.isHTTP(protocolName) {
                warning(path / "connectionPool" / "http", "HTTP pool settings have no effect on port \(port.number ?? 0) with protocol \(protocolName); only tcp settings apply")
            }
        }
        connectionPool(spec / "inboundConnectionPool", sidecar.inboundConnectionPool)
        var egressPorts: Set<UInt32> = []
        var socketBinds: Set<String> = []
        let egress = sidecar.egress ?? []
        for (index, listener) in egress.enumerated() {
            let path = spec / "egress" / index
            if let port = listener.port {
                if port.targetPort != nil { error(path / "port" / "targetPort", "targetPort has no effect on Sidecars") }
                if (port.number ?? 0) == 0 {
                    // Port 0 means a listener on a unix domain socket.
                    if let protocolName = port.protocolName, !protocolName.isEmpty { check(path / "port" / "protocol", ProtocolName.problem(protocolName)) }
                    guard let bind = listener.bind, bind.hasPrefix("unix://") else {
                        error(path / "bind", "a listener on port 0 needs a unix domain socket bind (unix:///path)")
                        continue
                    }
                    check(path / "bind", UnixAddressRule.problem(bind))
                    if let mode = listener.captureMode, mode != .DEFAULT && mode != .NONE {
                        error(path / "captureMode", "unix domain socket listeners need captureMode DEFAULT or NONE")
                    }
                    if !socketBinds.insert(bind).inserted { error(path / "bind", "unix domain socket \(bind) is used by two listeners") }
                } else {
                    self.port(path / "port", port, protocolRequired: false, nameRequired: false)
                    if let bind = listener.bind, !bind.isEmpty, IPAddress.parse(bind) == nil {
                        error(path / "bind", "bind \"\(bind.truncatedForDisplay)\" is not a valid IP address")
                    }
                    let key = port.number ?? 0
                    if !egressPorts.insert(key).inserted {
                        error(path / "port" / "number", "egress port \(key) is used twice; ports on IP-bound listeners must be unique")
                    }
                }
            } else if index != egress.count - 1 {
                error(path, "the egress listener without a port catches everything, so it must be the last listener")
            }
            let hosts = listener.hosts ?? []
            if hosts.isEmpty { error(path / "hosts", "an egress listener needs at least one host") }
            var seen: Set<String> = []
            for (hostIndex, host) in hosts.enumerated() {
                for problem in HostNames.validateNamespacedHost(host, forGateway: false) { error(path / "hosts" / hostIndex, problem) }
                let normalized = host.hasPrefix("./") ? resource.namespace + host.dropFirst() : host
                if !seen.insert(normalized).inserted { warning(path / "hosts" / hostIndex, "duplicate egress host \"\(host)\"") }
            }
            if hosts.contains("*/*") && hosts.count > 1 {
                warning(path / "hosts", "\"*/*\" already selects every host; the other hosts add nothing")
            }
        }
        if let policy = sidecar.outboundTrafficPolicy, let proxy = policy.egressProxy {
            if policy.mode != .ALLOW_ANY {
                error(spec / "outboundTrafficPolicy" / "egressProxy", "egressProxy needs outboundTrafficPolicy mode ALLOW_ANY")
            } else {
                if proxy.port == nil { error(spec / "outboundTrafficPolicy" / "egressProxy" / "port", "egressProxy needs a port") }
                destination(spec / "outboundTrafficPolicy" / "egressProxy", proxy)
            }
        }
    }

    /// `defaultEndpoint`: `127.0.0.1:PORT`, `0.0.0.0:PORT`, `[::1]:PORT`, `[::]:PORT`, `:PORT` or
    /// `unix:///path`.
    static func defaultEndpointProblem(_ endpoint: String) -> String? {
        if endpoint.hasPrefix("unix://") { return UnixAddressRule.problem(endpoint) }
        guard let colon = endpoint.lastIndex(of: ":") else {
            return "defaultEndpoint \"\(endpoint.truncatedForDisplay)\" has no port; write 127.0.0.1:PORT"
        }
        var host = String(endpoint[..<colon])
        let port = String(endpoint[endpoint.index(after: colon)...])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard ["", "127.0.0.1", "0.0.0.0", "::1", "::"].contains(host) else {
            return "defaultEndpoint must be 127.0.0.1:PORT, 0.0.0.0:PORT, [::1]:PORT, [::]:PORT or unix:///path, not \"\(endpoint.truncatedForDisplay)\""
        }
        guard let number = UInt32(port) else { return "defaultEndpoint port \"\(port.truncatedForDisplay)\" is not a number" }
        return PortRule.problem(number)
    }
}
