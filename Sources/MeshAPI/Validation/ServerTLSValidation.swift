// TLS settings of servers: Gateway servers and Sidecar ingress listeners.

extension ValidationContext {
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
}
