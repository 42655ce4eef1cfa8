// Rules for the structures several kinds share: labels, selectors, destinations, string
// matches, header operations, server TLS, connection pools.

extension ValidationContext {
    mutating func duration(_ path: FieldPath, _ value: ProtoDuration?, allowZero: Bool = false) {
        if let value { check(path, Values.durationProblem(value, allowZero: allowZero)) }
    }

    mutating func labels(_ path: FieldPath, _ labels: [String: String]?) {
        for (key, value) in (labels ?? [:]).sorted(by: { $0.key < $1.key }) {
            check(path / key, Values.labelKeyProblem(key))
            check(path / key, Values.labelValueProblem(value))
        }
    }

    /// `matchLabels`/`labels` of a workload selector: no empty keys or wildcards.
    mutating func selectorLabels(_ path: FieldPath, _ labels: [String: String]?) {
        guard let labels else { return }
        if labels.isEmpty {
            warning(path, "workload selector has no labels, so it selects every workload in the namespace")
        }
        for (key, value) in labels.sorted(by: { $0.key < $1.key }) {
            if key.isEmpty { error(path, "selector label keys must not be empty") }
            if key.contains("*") || value.contains("*") {
                error(path / key, "wildcards are not supported in selectors (\"\(key)=\(value)\")")
            } else {
                check(path / key, Values.labelKeyProblem(key))
                check(path / key, Values.labelValueProblem(value))
            }
        }
    }

    /// `selector`, `targetRef`, `targetRefs`: at most one, and references well-formed.
    mutating func policyTarget(selector: LabelSelector?, targetRef: PolicyTargetReference?, targetRefs: [PolicyTargetReference]?) {
        let set = [selector != nil ? "selector" : nil, targetRef != nil ? "targetRef" : nil,
                   (targetRefs?.isEmpty == false) ? "targetRefs" : nil].compactMap { $0 }
        if set.count > 1 {
            error(spec / set[1], "only one of selector, targetRef and targetRefs may be set (found \(set.joined(separator: " and ")))")
        }
        selectorLabels(spec / "selector" / "matchLabels", selector?.matchLabels)
        if let selector, selector.matchLabels == nil {
            warning(spec / "selector", "workload selector has no labels, so it selects every workload in the namespace")
        }
        var references: [(FieldPath, PolicyTargetReference)] = []
        if let targetRef { references.append((spec / "targetRef", targetRef)) }
        for (index, reference) in (targetRefs ?? []).enumerated() { references.append((spec / "targetRefs" / index, reference)) }
        if (targetRefs?.count ?? 0) > 16 { error(spec / "targetRefs", "at most 16 targetRefs may be given") }
        let supported: [(String, String)] = [("", "Service"), ("networking.istio.io", "ServiceEntry"),
                                              ("gateway.networking.k8s.io", "Gateway"), ("gateway.networking.k8s.io", "GatewayClass")]
        for (path, reference) in references {
            if (reference.name ?? "").isEmpty { error(path / "name", "targetRef name must be set") }
            if let namespace = reference.namespace, !namespace.isEmpty {
                error(path / "namespace", "targetRef namespace must not be set; cross-namespace references are not supported")
            }
            let group = reference.group ?? ""
            let kind = reference.kind ?? ""
            if !supported.contains(where: { $0.0 == group && $0.1 == kind }) {
                error(path / "kind", "targetRef must refer to a Service, ServiceEntry (networking.istio.io), Gateway or GatewayClass (gateway.networking.k8s.io); found \(group.isEmpty ? "core" : group)/\(kind)")
            }
        }
    }

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
            check(path / "port" / "number", Values.portProblem(port.number ?? 0))
        }
    }

    mutating func stringMatch(_ path: FieldPath, _ match: StringMatch?, allowEmptyPrefix: Bool = false) {
        guard let match else { return }
        exclusive(path, [("exact", match.exact != nil), ("prefix", match.prefix != nil), ("regex", match.regex != nil)])
        if let prefix = match.prefix, prefix.isEmpty, !allowEmptyPrefix {
            error(path / "prefix", "prefix match must not be empty")
        }
        if let regex = match.regex { check(path / "regex", RegexRule.problem(regex)) }
    }

    mutating func headerOperations(_ path: FieldPath, _ headers: Headers?) {
        guard let headers else { return }
        for (side, operations) in [("request", headers.request), ("response", headers.response)] {
            guard let operations else { continue }
            let base = path / side
            for (operation, values) in [("set", operations.set), ("add", operations.add)] {
                for (name, value) in (values ?? [:]).sorted(by: { $0.key < $1.key }) {
                    headerNameForEdit(base / operation / name, name, side: side)
                    check(base / operation / name, Values.headerValueProblem(value))
                }
            }
            for (index, name) in (operations.remove ?? []).enumerated() {
                headerNameForEdit(base / "remove" / index, name, side: side, removing: true)
            }
        }
    }

    private mutating func headerNameForEdit(_ path: FieldPath, _ name: String, side: String, removing: Bool = false) {
        if name.isEmpty { return error(path, "header name cannot be empty") }
        let lower = name.lowercased()
        if side == "request" && !removing && (lower == ":authority" || lower == "host") { return }
        if lower == "host" { return error(path, "the Host header cannot be \(removing ? "removed" : "set") here; use rewrite.authority") }
        if name.hasPrefix(":") { return error(path, "pseudo-header \"\(name)\" cannot be edited") }
        check(path, Values.headerNameProblem(name))
    }

    mutating func port(_ path: FieldPath, _ port: Port?, protocolRequired: Bool, nameRequired: Bool) {
        guard let port else { return }
        check(path / "number", Values.portProblem(port.number ?? 0))
        if let name = port.name, !name.isEmpty {
            if !HostNames.isDNS1123Label(name) { error(path / "name", "port name \"\(name.truncatedForDisplay)\" must be a DNS-1123 label") }
        } else if nameRequired {
            error(path / "name", "port name is required")
        }
        if let protocolName = port.protocolName, !protocolName.isEmpty {
            check(path / "protocol", Values.protocolProblem(protocolName))
        } else if protocolRequired {
            error(path / "protocol", "port protocol is required")
        }
    }

    mutating func serverTLS(_ path: FieldPath, _ tls: ServerTLSSettings) {
        let mode = tls.mode ?? .PASSTHROUGH
        if let minimum = tls.minProtocolVersion, minimum == .TLSV1_0 || minimum == .TLSV1_1, (tls.cipherSuites ?? []).isEmpty {
            warning(path / "minProtocolVersion", "TLS versions below 1.2 need cipherSuites set: the defaults no longer include compatible ciphers")
        }
        if let minimum = tls.minProtocolVersion, let maximum = tls.maxProtocolVersion, minimum != .TLS_AUTO, maximum != .TLS_AUTO,
           minimum.rawValue > maximum.rawValue {
            error(path / "maxProtocolVersion", "maxProtocolVersion \(maximum.rawValue) is below minProtocolVersion \(minimum.rawValue)")
        }
        let sources = [(tls.serverCertificate != nil && tls.privateKey != nil, "serverCertificate/privateKey"),
                       (tls.credentialName != nil, "credentialName"), (tls.credentialNames != nil, "credentialNames"),
                       (tls.tlsCertificates != nil, "tlsCertificates")].filter(\.0).map(\.1)
        if sources.count > 1 {
            error(path, "only one certificate source may be set; found \(sources.joined(separator: ", "))")
        }
        for (field, list) in [("credentialNames", tls.credentialNames?.count), ("tlsCertificates", tls.tlsCertificates?.count)] {
            if let count = list, count < 1 || count > 2 { error(path / field, "\(field) must have 1 or 2 entries (one RSA and one ECDSA certificate)") }
        }
        switch mode {
        case .ISTIO_MUTUAL:
            for (field, set) in [("serverCertificate", tls.serverCertificate != nil), ("privateKey", tls.privateKey != nil),
                                 ("caCertificates", tls.caCertificates != nil), ("credentialName", tls.credentialName != nil),
                                 ("credentialNames", tls.credentialNames != nil), ("tlsCertificates", tls.tlsCertificates != nil)] where set {
                error(path / field, "ISTIO_MUTUAL uses the mesh's own certificates; \(field) must not be set")
            }
        case .PASSTHROUGH, .AUTO_PASSTHROUGH:
            if tls.serverCertificate != nil || tls.privateKey != nil || tls.caCertificates != nil || tls.credentialName != nil
                || tls.credentialNames != nil || tls.tlsCertificates != nil || tls.caCrl != nil {
                warning(path / "mode", "\(mode.rawValue) does not terminate TLS; the certificates given are ignored")
            }
        case .SIMPLE, .MUTUAL, .OPTIONAL_MUTUAL:
            if tls.credentialName != nil || tls.credentialNames != nil {
                if tls.caCrl != nil, tls.credentialName != nil {
                    error(path / "caCrl", "caCrl cannot be used with credentialName; put the CRL in the credential")
                }
                break
            }
            let certificates = tls.tlsCertificates.map { $0.map { ($0.serverCertificate, $0.privateKey) } } ?? [(tls.serverCertificate, tls.privateKey)]
            for (index, (certificate, key)) in certificates.enumerated() {
                let base = tls.tlsCertificates == nil ? path : path / "tlsCertificates" / index
                if (certificate ?? "").isEmpty { error(base / "serverCertificate", "\(mode.rawValue) TLS requires a server certificate") }
                if (key ?? "").isEmpty { error(base / "privateKey", "\(mode.rawValue) TLS requires a private key") }
            }
            if mode != .SIMPLE && (tls.caCertificates ?? "").isEmpty {
                error(path / "caCertificates", "\(mode.rawValue) TLS requires caCertificates to verify client certificates")
            }
            if mode == .SIMPLE && tls.caCrl != nil {
                error(path / "caCrl", "caCrl is not supported with SIMPLE TLS (no client certificates are verified)")
            }
        }
        let known: Set<String> = [
            "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384",
            "ECDHE-RSA-AES256-GCM-SHA384", "ECDHE-ECDSA-CHACHA20-POLY1305", "ECDHE-RSA-CHACHA20-POLY1305",
            "ECDHE-ECDSA-AES128-SHA", "ECDHE-RSA-AES128-SHA", "ECDHE-ECDSA-AES256-SHA", "ECDHE-RSA-AES256-SHA",
            "AES128-GCM-SHA256", "AES256-GCM-SHA384", "AES128-SHA", "AES256-SHA", "DES-CBC3-SHA",
        ]
        var seen: Set<String> = []
        for (index, suite) in (tls.cipherSuites ?? []).enumerated() {
            let isOperator = suite.first.map { !$0.isLetter && !$0.isNumber } ?? true
            if !isOperator && suite != "ALL" && !known.contains(suite) {
                warning(path / "cipherSuites" / index, "unknown cipher suite \"\(suite.truncatedForDisplay)\" is ignored")
            }
            if !seen.insert(suite).inserted { warning(path / "cipherSuites" / index, "duplicate cipher suite \"\(suite)\" is ignored") }
        }
    }

    mutating func connectionPool(_ path: FieldPath, _ pool: ConnectionPoolSettings?) {
        guard let pool else { return }
        if pool.http == nil && pool.tcp == nil { error(path, "connectionPool must set tcp or http settings") }
        if let http = pool.http {
            let base = path / "http"
            for (field, value) in [("http1MaxPendingRequests", http.http1MaxPendingRequests), ("http2MaxRequests", http.http2MaxRequests),
                                   ("maxRequestsPerConnection", http.maxRequestsPerConnection), ("maxRetries", http.maxRetries),
                                   ("maxConcurrentStreams", http.maxConcurrentStreams)] {
                if let value, value < 0 { error(base / field, "\(field) must not be negative") }
            }
            duration(base / "idleTimeout", http.idleTimeout)
            if http.h2UpgradePolicy == .UPGRADE && http.useClientProtocol == true {
                error(base / "useClientProtocol", "useClientProtocol must not be true when h2UpgradePolicy is UPGRADE")
            }
        }
        if let tcp = pool.tcp {
            let base = path / "tcp"
            if let value = tcp.maxConnections, value < 0 { error(base / "maxConnections", "maxConnections must not be negative") }
            duration(base / "connectTimeout", tcp.connectTimeout)
            duration(base / "maxConnectionDuration", tcp.maxConnectionDuration)
            duration(base / "idleTimeout", tcp.idleTimeout, allowZero: true)
            duration(base / "tcpKeepalive" / "time", tcp.tcpKeepalive?.time)
            duration(base / "tcpKeepalive" / "interval", tcp.tcpKeepalive?.interval)
        }
    }

    mutating func exportTo(_ entries: [String]?, allowNone: Bool = false) {
        guard let entries else { return }
        for (index, problem) in Values.exportToProblems(entries, namespace: resource.namespace, allowNone: allowNone) {
            error(spec / "exportTo" / index, problem)
        }
    }
}
