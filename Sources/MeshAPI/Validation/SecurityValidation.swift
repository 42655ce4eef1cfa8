// PeerAuthentication, RequestAuthentication and AuthorizationPolicy rules.

import Foundation

extension ValidationContext {
    mutating func validate(_ policy: PeerAuthentication) {
        if let selector = policy.selector {
            selectorLabels(spec / "selector" / "matchLabels", selector.matchLabels ?? [:])
        }
        if let ports = policy.portLevelMtls {
            if (policy.selector?.matchLabels ?? [:]).isEmpty {
                error(spec / "portLevelMtls", "portLevelMtls needs a selector: mesh- and namespace-wide PeerAuthentication cannot set per-port modes")
            }
            if ports.isEmpty { error(spec / "portLevelMtls", "portLevelMtls, when given, needs at least one port") }
            var seen: [UInt32: String] = [:]
            for key in ports.keys.sorted() {
                guard let number = PortRule.number(fromText: key), number > 0 else {
                    error(spec / "portLevelMtls" / key, "portLevelMtls key \"\(key.truncatedForDisplay)\" must be a port number from 1 to 65535")
                    continue
                }
                if let other = seen[number] {
                    error(spec / "portLevelMtls" / key, "port \(number) is given twice (\"\(other)\" and \"\(key)\")")
                }
                seen[number] = key
            }
        }
    }

    mutating func validate(_ policy: RequestAuthentication) {
        policyTarget(selector: policy.selector, targetRef: policy.targetRef, targetRefs: policy.targetRefs)
        for (index, rule) in (policy.jwtRules ?? []).enumerated() {
            let path = spec / "jwtRules" / index
            // Current Istio needs an issuer or a jwksUri. Without an issuer, tokens of any issuer
            // signed by the keys are accepted: allowed, but rarely meant.
            if (rule.issuer ?? "").isEmpty {
                if (rule.jwksUri ?? "").isEmpty {
                    error(path / "issuer", "a JWT rule needs an issuer")
                } else {
                    warning(path / "issuer", "no issuer: tokens from any issuer signed by the keys at jwksUri are accepted")
                }
            }
            for (audienceIndex, audience) in (rule.audiences ?? []).enumerated() where audience.isEmpty {
                error(path / "audiences" / audienceIndex, "audiences must not be empty strings")
            }
            if rule.jwksUri != nil && rule.jwks != nil { error(path / "jwks", "\"jwksUri\" and \"jwks\" are mutually exclusive") }
            if let uri = rule.jwksUri {
                if let url = URL(string: uri), let scheme = url.scheme?.lowercased(), url.host != nil {
                    if scheme != "http" && scheme != "https" { error(path / "jwksUri", "jwksUri scheme \"\(scheme)\" is not supported; use http or https") }
                } else {
                    error(path / "jwksUri", "jwksUri \"\(uri.truncatedForDisplay)\" is not a valid http(s) URL")
                }
            }
            if let jwks = rule.jwks {
                switch Self.jwksProblem(jwks) {
                case .none: break
                case .some((let severity, let message)): report(severity, path / "jwks", message)
                }
            }
            for (headerIndex, header) in (rule.fromHeaders ?? []).enumerated() where (header.name ?? "").isEmpty {
                error(path / "fromHeaders" / headerIndex / "name", "fromHeaders entries need a header name")
            }
            for (paramIndex, param) in (rule.fromParams ?? []).enumerated() where param.isEmpty {
                error(path / "fromParams" / paramIndex, "fromParams entries must not be empty")
            }
            for (cookieIndex, cookie) in (rule.fromCookies ?? []).enumerated() where cookie.isEmpty {
                error(path / "fromCookies" / cookieIndex, "fromCookies entries must not be empty")
            }
            for (claimIndex, claim) in (rule.outputClaimToHeaders ?? []).enumerated() {
                let claimPath = path / "outputClaimToHeaders" / claimIndex
                if (claim.claim ?? "").isEmpty { error(claimPath / "claim", "outputClaimToHeaders needs a claim") }
                if let header = claim.header, !header.isEmpty {
                    if !header.utf8.allSatisfy({ ($0 >= 48 && $0 <= 57) || ($0 >= 65 && $0 <= 90) || ($0 >= 97 && $0 <= 122) || $0 == 45 }) {
                        error(claimPath / "header", "header \"\(header.truncatedForDisplay)\" may contain only letters, digits and '-'")
                    }
                } else {
                    error(claimPath / "header", "outputClaimToHeaders needs a header")
                }
            }
            duration(path / "timeout", rule.timeout)
        }
    }

    /// Inline JWKS: a JSON key set (`{"keys": [...]}`) or a single key (`{"kty": ...}`), as
    /// Istio's parser accepts.
    static func jwksProblem(_ jwks: String) -> (Severity, String)? {
        guard let data = jwks.data(using: .utf8),
              let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            return (.error, "jwks is not a JSON object")
        }
        if object["kty"] is String { return nil }
        guard let keys = object["keys"] as? [Any] else {
            return (.error, "jwks must be a key set ({\"keys\": [...]}) or a single key with \"kty\"")
        }
        if keys.isEmpty { return (.warning, "jwks has no keys, so no token can be verified") }
        if let bad = keys.firstIndex(where: { ($0 as? [String: Any])?["kty"] as? String == nil }) {
            return (.error, "jwks key #\(bad) has no \"kty\"")
        }
        return nil
    }

    static let conditionKeys: Set<String> = [
        "source.ip", "remote.ip", "destination.ip", "destination.port", "source.namespace", "source.principal",
        "request.auth.principal", "request.auth.audiences", "request.auth.presenter", "connection.sni", "source.serviceAccount",
    ]

    mutating func validate(_ policy: AuthorizationPolicy) {
        policyTarget(selector: policy.selector, targetRef: policy.targetRef, targetRefs: policy.targetRefs)
        let action = policy.action ?? .ALLOW
        if action == .CUSTOM {
            if policy.rules == nil {
                error(spec / "rules", "a CUSTOM policy without rules never applies; add an empty rule {} to apply it to every request")
            }
            if (policy.provider?.name ?? "").isEmpty { error(spec / "provider" / "name", "action CUSTOM needs provider.name (an extensionProviders entry of the mesh config)") }
        } else if policy.provider != nil {
            error(spec / "provider", "provider is only used with action CUSTOM (action is \(action.rawValue))")
        }
        if action == .DENY && policy.rules == nil {
            error(spec / "rules", "a DENY policy without rules never applies; add an empty rule {} to deny every request")
        }
        for (index, rule) in (policy.rules ?? []).enumerated() {
            authorizationRule(spec / "rules" / index, rule, action: action)
        }
    }

    private mutating func authorizationRule(_ path: FieldPath, _ rule: AuthorizationPolicy.Rule, action: AuthorizationPolicy.Action) {
        if let from = rule.from {
            if from.isEmpty { error(path / "from", "\"from\", when given, must not be empty") }
            for (index, entry) in from.enumerated() {
                let base = path / "from" / index / "source"
                guard let source = entry.source else {
                    error(base, "each from entry needs a source")
                    continue
                }
                let lists: KeyValuePairs<String, [String]?> = [
                    "principals": source.principals, "notPrincipals": source.notPrincipals,
                    "requestPrincipals": source.requestPrincipals, "notRequestPrincipals": source.notRequestPrincipals,
                    "namespaces": source.namespaces, "notNamespaces": source.notNamespaces,
                    "serviceAccounts": source.serviceAccounts, "notServiceAccounts": source.notServiceAccounts,
                    "ipBlocks": source.ipBlocks, "notIpBlocks": source.notIpBlocks,
                    "remoteIpBlocks": source.remoteIpBlocks, "notRemoteIpBlocks": source.notRemoteIpBlocks,
                ]
                if lists.allSatisfy({ ($0.value ?? []).isEmpty }) { error(base, "a source must set at least one field") }
                let addressFields: Set<String> = ["ipBlocks", "notIpBlocks", "remoteIpBlocks", "notRemoteIpBlocks"]
                let identityFields: Set<String> = ["namespaces", "notNamespaces", "serviceAccounts", "notServiceAccounts",
                                                   "principals", "notPrincipals", "requestPrincipals", "notRequestPrincipals"]
                for (field, values) in lists {
                    for (valueIndex, value) in (values ?? []).enumerated() {
                        if value.isEmpty {
                            error(base / field / valueIndex, "empty values are not allowed in \(field)")
                        } else if addressFields.contains(field) {
                            check(base / field / valueIndex, IPAddress.validateAddressOrCIDR(value))
                        }
                    }
                    if action == .CUSTOM && identityFields.contains(field) && !(values ?? []).isEmpty {
                        // The external authorizer is called before identities are known.
                        error(base / field, "\(field) is not supported with action CUSTOM")
                    }
                }
                let usesAccounts = !(source.serviceAccounts ?? []).isEmpty || !(source.notServiceAccounts ?? []).isEmpty
                let usesIdentities = !(source.principals ?? []).isEmpty || !(source.notPrincipals ?? []).isEmpty
                    || !(source.namespaces ?? []).isEmpty || !(source.notNamespaces ?? []).isEmpty
                if usesAccounts && usesIdentities {
                    error(base / "serviceAccounts", "serviceAccounts cannot be combined with principals or namespaces")
                }
                for field in ["serviceAccounts", "notServiceAccounts"] {
                    let values = (field == "serviceAccounts" ? source.serviceAccounts : source.notServiceAccounts) ?? []
                    if values.count > 16 { error(base / field, "\(field) may have at most 16 values") }
                    for (valueIndex, value) in values.enumerated() where !value.isEmpty {
                        check(base / field / valueIndex, Self.serviceAccountProblem(value))
                    }
                }
            }
        }
        if let to = rule.to {
            if to.isEmpty { error(path / "to", "\"to\", when given, must not be empty") }
            for (index, entry) in to.enumerated() {
                let base = path / "to" / index / "operation"
                guard let operation = entry.operation else {
                    error(base, "each to entry needs an operation")
                    continue
                }
                let lists: KeyValuePairs<String, [String]?> = [
                    "hosts": operation.hosts, "notHosts": operation.notHosts, "ports": operation.ports, "notPorts": operation.notPorts,
                    "methods": operation.methods, "notMethods": operation.notMethods, "paths": operation.paths, "notPaths": operation.notPaths,
                ]
                if lists.allSatisfy({ ($0.value ?? []).isEmpty }) { error(base, "an operation must set at least one field") }
                for (field, values) in lists {
                    for (valueIndex, value) in (values ?? []).enumerated() {
                        if value.isEmpty {
                            error(base / field / valueIndex, "empty values are not allowed in \(field)")
                        } else if field == "ports" || field == "notPorts" {
                            if PortRule.number(fromText: value) == nil {
                                error(base / field / valueIndex, "port \"\(value.truncatedForDisplay)\" must be a number between 0 and 65535")
                            }
                        } else if field == "paths" || field == "notPaths" {
                            check(base / field / valueIndex, Self.pathTemplateProblem(value))
                        }
                    }
                }
            }
        }
        if action == .DENY && Self.usesOnlyHTTPAttributes(rule) {
            warning(path, "this DENY rule uses only HTTP attributes, so it denies all traffic to TCP ports it covers; add ports to be explicit")
        }
        for (index, condition) in (rule.when ?? []).enumerated() {
            let base = path / "when" / index
            guard let key = condition.key, !key.isEmpty else {
                error(base / "key", "a condition needs a key")
                continue
            }
            if (condition.values ?? []).isEmpty && (condition.notValues ?? []).isEmpty {
                error(base, "condition \(key) needs values or notValues")
            }
            if action == .CUSTOM && (key == "source.namespace" || key == "source.principal" || key == "source.serviceAccount" || key.hasPrefix("request.auth.")) {
                error(base / "key", "\(key) is not supported with action CUSTOM")
            }
            check(base / "key", Self.conditionKeyProblem(key))
            for field in ["values", "notValues"] {
                for (valueIndex, value) in ((field == "values" ? condition.values : condition.notValues) ?? []).enumerated() {
                    check(base / field / valueIndex, Self.conditionValueProblem(key: key, value: value))
                }
            }
        }
    }

    /// Whether a DENY rule can only be judged on HTTP requests, as Istio decides it: a TCP
    /// connection cannot be matched on request attributes, so such a rule denies it outright.
    static func usesOnlyHTTPAttributes(_ rule: AuthorizationPolicy.Rule) -> Bool {
        let from = rule.from ?? []
        let to = rule.to ?? []
        let tcpCapableSource = from.contains { entry in
            guard let source = entry.source else { return false }
            return [source.principals, source.notPrincipals, source.ipBlocks, source.notIpBlocks, source.namespaces,
                    source.notNamespaces, source.remoteIpBlocks, source.notRemoteIpBlocks, source.serviceAccounts,
                    source.notServiceAccounts].contains { !($0 ?? []).isEmpty }
        }
        if !from.isEmpty && to.isEmpty && !tcpCapableSource { return true }
        return !to.isEmpty && to.allSatisfy { ($0.operation?.ports ?? []).isEmpty && ($0.operation?.notPorts ?? []).isEmpty }
    }

    static func conditionKeyProblem(_ key: String) -> String? {
        for prefix in ["request.headers", "request.auth.claims", "request.experimental.inline.headers", "experimental.envoy.filters."] where key.hasPrefix(prefix) {
            let rest = key.dropFirst(prefix.count)
            if prefix.hasSuffix(".") || (rest.hasPrefix("[") && rest.hasSuffix("]") && rest.count > 2) { return nil }
            return "condition key \"\(key)\" must have the form \(prefix)[NAME]"
        }
        if conditionKeys.contains(key) { return nil }
        switch key {
        case "destination.namespace": return "condition key destination.namespace is replaced by the policy's namespace"
        case let other where other.hasPrefix("destination.labels"): return "condition key \(other) is replaced by the workload selector"
        default:
            var message = "unknown condition key \"\(key.truncatedForDisplay)\""
            if let guess = Suggestion.closest(to: key, among: Array(conditionKeys)) { message += "; did you mean \"\(guess)\"?" }
            return message
        }
    }

    static func conditionValueProblem(key: String, value: String) -> String? {
        if value.isEmpty { return "empty values are not allowed for \(key)" }
        switch key {
        case "source.ip", "remote.ip", "destination.ip": return IPAddress.validateAddressOrCIDR(value)
        case "destination.port": return PortRule.number(fromText: value) == nil ? "port \"\(value.truncatedForDisplay)\" must be a number between 0 and 65535" : nil
        case "source.serviceAccount": return serviceAccountProblem(value)
        default: return nil
        }
    }

    static func serviceAccountProblem(_ value: String) -> String? {
        if value.contains("*") { return "wildcards are not allowed in service accounts (\"\(value.truncatedForDisplay)\")" }
        if value.utf8.count > 320 { return "service account \"\(value.truncatedForDisplay)\" is longer than 320 characters" }
        let parts = value.split(separator: "/", omittingEmptySubsequences: false)
        if parts.count > 2 || parts.contains(where: \.isEmpty) {
            return "service account \"\(value.truncatedForDisplay)\" must be NAME or NAMESPACE/NAME"
        }
        return nil
    }

    /// Paths with `{*}` / `{**}` templates (Envoy's URI templates): whole segments only, and no
    /// template after a `{**}` (it already matches the rest of the path).
    static func pathTemplateProblem(_ path: String) -> String? {
        guard path.contains("{") || path.contains("}") else { return nil }
        let segments = path.trimmingCharacters(in: CharacterSet(charactersIn: "/")).split(separator: "/", omittingEmptySubsequences: false)
        var sawMultiSegment = false
        for segment in segments {
            if segment == "{*}" || segment == "{**}" {
                if sawMultiSegment { return "path \"\(path)\": no template may follow {**}" }
                sawMultiSegment = segment == "{**}"
                continue
            }
            if segment.contains("{") || segment.contains("}") {
                return "path \"\(path)\": only whole segments {*} and {**} are supported as templates"
            }
        }
        return nil
    }
}
