// DestinationRule rules: host, subsets and traffic policies.

extension ValidationContext {
    mutating func validate(_ rule: DestinationRule) {
        if let host = rule.host, !host.isEmpty {
            check(spec / "host", HostNames.validateWildcardDomain(host))
        } else {
            error(spec / "host", "host is required")
        }
        if let policy = rule.trafficPolicy { trafficPolicy(spec / "trafficPolicy", policy) }
        var names: Set<String> = []
        for (index, subset) in (rule.subsets ?? []).enumerated() {
            let path = spec / "subsets" / index
            if let name = subset.name, !name.isEmpty {
                if !HostNames.isDNS1123Label(name) {
                    error(path / "name", "subset name \"\(name.truncatedForDisplay)\" is invalid: it must be a DNS-1123 label")
                }
                if !names.insert(name).inserted { error(path / "name", "duplicate subset name \"\(name)\"") }
            } else {
                error(path / "name", "subset name is required")
            }
            labels(path / "labels", subset.labels)
            if let selector = subset.selector { subsetSelector(path / "selector", selector) }
            if let policy = subset.trafficPolicy { trafficPolicy(path / "trafficPolicy", policy) }
        }
        exportTo(rule.exportTo)
        if let selector = rule.workloadSelector {
            selectorLabels(spec / "workloadSelector" / "matchLabels", selector.matchLabels ?? [:])
            if let exportTo = rule.exportTo, exportTo.contains(where: { $0 != "." && $0 != resource.namespace }) {
                error(spec / "exportTo", "a DestinationRule with a workloadSelector can only be exported to its own namespace")
            }
        }
    }

    private mutating func subsetSelector(_ path: FieldPath, _ selector: Subset.Selector) {
        labels(path / "matchLabels", selector.matchLabels)
        for (index, requirement) in (selector.matchExpressions ?? []).enumerated() {
            let base = path / "matchExpressions" / index
            if let key = requirement.key { check(base / "key", LabelRule.keyProblem(key)) } else { error(base / "key", "a selector expression needs a key") }
            guard let op = requirement.operator else {
                error(base / "operator", "a selector expression needs an operator (In, NotIn, Exists, DoesNotExist)")
                continue
            }
            let values = requirement.values ?? []
            switch op {
            case .In, .NotIn:
                if values.isEmpty { error(base / "values", "operator \(op.rawValue) needs values") }
            case .Exists, .DoesNotExist:
                if !values.isEmpty { error(base / "values", "operator \(op.rawValue) takes no values") }
            }
            for (valueIndex, value) in values.enumerated() { check(base / "values" / valueIndex, LabelRule.valueProblem(value)) }
        }
    }

    private mutating func trafficPolicy(_ path: FieldPath, _ policy: TrafficPolicy) {
        if policy.loadBalancer == nil && policy.connectionPool == nil && policy.outlierDetection == nil && policy.tls == nil
            && policy.portLevelSettings == nil && policy.tunnel == nil && policy.proxyProtocol == nil && policy.retryBudget == nil {
            error(path, "trafficPolicy must set at least one field")
            return
        }
        if policy.tunnel != nil && policy.proxyProtocol != nil {
            error(path / "proxyProtocol", "\"tunnel\" and \"proxyProtocol\" are mutually exclusive")
        }
        portPolicy(path, loadBalancer: policy.loadBalancer, pool: policy.connectionPool, outlier: policy.outlierDetection, tls: policy.tls)
        for (index, portPolicy) in (policy.portLevelSettings ?? []).enumerated() {
            let portPath = path / "portLevelSettings" / index
            if let number = portPolicy.port?.number {
                check(portPath / "port" / "number", PortRule.problem(number))
            } else {
                error(portPath / "port", "port-level settings need a port number")
            }
            if portPolicy.loadBalancer == nil && portPolicy.connectionPool == nil && portPolicy.outlierDetection == nil && portPolicy.tls == nil {
                error(portPath, "port-level settings must set at least one of loadBalancer, connectionPool, outlierDetection, tls")
            }
            self.portPolicy(portPath, loadBalancer: portPolicy.loadBalancer, pool: portPolicy.connectionPool,
                            outlier: portPolicy.outlierDetection, tls: portPolicy.tls)
        }
        if let tunnel = policy.tunnel {
            if let proto = tunnel.protocol, !["", "CONNECT", "POST"].contains(proto) {
                error(path / "tunnel" / "protocol", "tunnel protocol must be \"CONNECT\" or \"POST\"")
            }
            if let host = tunnel.targetHost, !host.isEmpty {
                if HostNames.validateFQDN(host) != nil && IPAddress.parse(host) == nil {
                    error(path / "tunnel" / "targetHost", "tunnel targetHost \"\(host.truncatedForDisplay)\" must be a host name or an IP address")
                }
            } else {
                error(path / "tunnel" / "targetHost", "tunnel targetHost is required")
            }
            check(path / "tunnel" / "targetPort", PortRule.problem(tunnel.targetPort))
        }
        if let budget = policy.retryBudget {
            if let percent = budget.percent, !(0...100).contains(percent) {
                error(path / "retryBudget" / "percent", "retryBudget percent \(percent.shownInMessage) must be between 0 and 100")
            }
            duration(path / "retryBudget" / "budgetInterval", budget.budgetInterval)
        }
    }

    private mutating func portPolicy(_ path: FieldPath, loadBalancer: LoadBalancerSettings?, pool: ConnectionPoolSettings?,
                                     outlier: OutlierDetection?, tls: ClientTLSSettings?) {
        if let loadBalancer { self.loadBalancer(path / "loadBalancer", loadBalancer, hasOutlierDetection: outlier != nil) }
        connectionPool(path / "connectionPool", pool)
        if let outlier { outlierDetection(path / "outlierDetection", outlier) }
        if let tls { clientTLS(path / "tls", tls) }
    }

    /// Envoy refuses rings above 8M entries (`RingHashLbConfig.minimum_ring_size` lte 8388608):
    /// Istio passes the value through and the proxy rejects the whole cluster update.
    private mutating func ringSize(_ path: FieldPath, _ size: UInt64) {
        if size > 8_388_608 {
            error(path, "ring size \(size) is above Envoy's limit of 8388608 entries")
        }
    }

    private mutating func loadBalancer(_ path: FieldPath, _ settings: LoadBalancerSettings, hasOutlierDetection: Bool) {
        exclusive(path, [("simple", settings.simple != nil), ("consistentHash", settings.consistentHash != nil)])
        exclusive(path, [("warmupDurationSecs", settings.warmupDurationSecs != nil), ("warmup", settings.warmup != nil)])
        if let hash = settings.consistentHash {
            let base = path / "consistentHash"
            exclusive(base, [("httpHeaderName", hash.httpHeaderName != nil), ("httpCookie", hash.httpCookie != nil),
                             ("useSourceIp", hash.useSourceIp != nil), ("httpQueryParameterName", hash.httpQueryParameterName != nil)])
            exclusive(base, [("ringHash", hash.ringHash != nil), ("maglev", hash.maglev != nil)])
            if let header = hash.httpHeaderName { check(base / "httpHeaderName", HeaderRule.nameProblem(header)) }
            if let cookie = hash.httpCookie, (cookie.name ?? "").isEmpty {
                error(base / "httpCookie" / "name", "httpCookie needs a name")
            }
            if let size = hash.minimumRingSize, size != 0 {
                warning(base / "minimumRingSize", "minimumRingSize is deprecated; use ringHash.minimumRingSize")
                if hash.ringHash != nil || hash.maglev != nil {
                    error(base / "minimumRingSize", "minimumRingSize cannot be combined with ringHash or maglev")
                }
                ringSize(base / "minimumRingSize", size)
            }
            if let size = hash.ringHash?.minimumRingSize { ringSize(base / "ringHash" / "minimumRingSize", size) }
            if let maglev = hash.maglev {
                let size = maglev.tableSize ?? 0
                if size == 0 {
                    error(base / "maglev" / "tableSize", "maglev tableSize is required")
                } else if size >= 5_000_011 {
                    error(base / "maglev" / "tableSize", "maglev tableSize must be less than 5000011")
                } else if !Self.isPrime(size) {
                    error(base / "maglev" / "tableSize", "maglev tableSize \(size) must be a prime number (e.g. 65537)")
                }
            }
        }
        duration(path / "warmupDurationSecs", settings.warmupDurationSecs)
        if let warmup = settings.warmup {
            if let value = warmup.duration { duration(path / "warmup" / "duration", value) } else {
                error(path / "warmup" / "duration", "warmup duration is required")
            }
            if let minimum = warmup.minimumPercent, !(0...100).contains(minimum) {
                error(path / "warmup" / "minimumPercent", "minimumPercent must be between 0 and 100")
            }
            if let aggression = warmup.aggression, aggression < 1 {
                error(path / "warmup" / "aggression", "aggression must be at least 1")
            }
        }
        if let locality = settings.localityLbSetting { localitySetting(path / "localityLbSetting", locality, hasOutlierDetection: hasOutlierDetection) }
    }

    static func isPrime(_ value: UInt64) -> Bool {
        if value < 2 { return false }
        if value < 4 { return true }
        if value % 2 == 0 { return false }
        var divisor: UInt64 = 3
        while divisor * divisor <= value {
            if value % divisor == 0 { return false }
            divisor += 2
        }
        return true
    }

    mutating func localitySetting(_ path: FieldPath, _ setting: LocalityLoadBalancerSetting, hasOutlierDetection: Bool) {
        if setting.distribute != nil && setting.failover != nil {
            error(path, "\"distribute\" and \"failover\" cannot be set together")
            return
        }
        let topologyLabels = ["topology.kubernetes.io/region", "topology.kubernetes.io/zone", "topology.istio.io/subzone"]
        if setting.failover != nil, let label = (setting.failoverPriority ?? []).first(where: { topologyLabels.contains($0) }) {
            error(path / "failoverPriority", "\"failover\" cannot be combined with the topology label \"\(label)\" in failoverPriority")
        }
        var sources = LocalityOverlap()
        for (index, rule) in (setting.distribute ?? []).enumerated() {
            let base = path / "distribute" / index
            var total: UInt64 = 0
            var targets = LocalityOverlap()
            for (locality, weight) in (rule.to ?? [:]).sorted(by: { $0.key < $1.key }) {
                if !(1...100).contains(weight) { error(base / "to" / locality, "locality weight \(weight) must be between 1 and 100") }
                total += UInt64(weight)
                check(base / "to" / locality, Self.localityProblem(locality) ?? targets.add(locality))
            }
            if total != 100 { error(base / "to", "locality weights add up to \(total); they must add up to 100") }
            if let from = rule.from { check(base / "from", Self.localityProblem(from) ?? sources.add(from)) }
        }
        for (index, rule) in (setting.failover ?? []).enumerated() {
            let base = path / "failover" / index
            if (rule.from ?? "").isEmpty || (rule.to ?? "").isEmpty {
                error(base, "failover needs both from and to (region names)")
            } else if rule.from == rule.to {
                error(base, "failover must go from one region to a different one")
            }
            if (rule.from ?? "").contains("/") || (rule.to ?? "").contains("/") { error(base, "failover names regions only (no \"/\")") }
            if (rule.from ?? "").contains("*") || (rule.to ?? "").contains("*") { error(base, "failover regions cannot contain \"*\"") }
        }
        if (setting.failover != nil || setting.failoverPriority != nil) && !hasOutlierDetection {
            warning(path, "locality failover needs outlierDetection in the same traffic policy to notice unhealthy endpoints")
        }
    }

    static func localityProblem(_ locality: String) -> String? {
        let stars = locality.filter { $0 == "*" }.count
        if stars > 1 || (stars == 1 && !locality.hasSuffix("*")) {
            return "locality \"\(locality)\" may contain one \"*\", only at the end"
        }
        if locality.split(separator: "/", omittingEmptySubsequences: false).contains(where: \.isEmpty) {
            return "locality \"\(locality)\" has an empty region, zone or subzone"
        }
        return nil
    }

    private mutating func outlierDetection(_ path: FieldPath, _ outlier: OutlierDetection) {
        duration(path / "interval", outlier.interval)
        duration(path / "baseEjectionTime", outlier.baseEjectionTime)
        if outlier.consecutiveErrors != nil {
            warning(path / "consecutiveErrors", "consecutiveErrors is deprecated; use consecutive5xxErrors or consecutiveGatewayErrors")
        }
        if outlier.splitExternalLocalOriginErrors != true, let failures = outlier.consecutiveLocalOriginFailures, failures > 0 {
            error(path / "consecutiveLocalOriginFailures", "consecutiveLocalOriginFailures needs splitExternalLocalOriginErrors: true")
        }
        for (field, value) in [("maxEjectionPercent", outlier.maxEjectionPercent), ("minHealthPercent", outlier.minHealthPercent)] {
            if let value, !(0...100).contains(value) { error(path / field, "\(field) \(value) must be between 0 and 100") }
        }
    }

    mutating func clientTLS(_ path: FieldPath, _ tls: ClientTLSSettings) {
        let mode = tls.mode ?? .DISABLE
        if tls.insecureSkipVerify == true {
            if mode == .SIMPLE && (tls.caCertificates != nil || tls.credentialName != nil || tls.subjectAltNames != nil) {
                error(path / "insecureSkipVerify", "insecureSkipVerify cannot be combined with caCertificates, credentialName or subjectAltNames")
            }
            if mode == .MUTUAL && (tls.caCertificates != nil || tls.subjectAltNames != nil) {
                error(path / "insecureSkipVerify", "insecureSkipVerify cannot be combined with caCertificates or subjectAltNames")
            }
        }
        switch mode {
        case .SIMPLE, .MUTUAL:
            if tls.credentialName != nil {
                if tls.clientCertificate != nil || tls.privateKey != nil || tls.caCertificates != nil || tls.caCrl != nil {
                    error(path / "credentialName", "with credentialName, clientCertificate, privateKey, caCertificates and caCrl must not be set")
                }
            } else if mode == .MUTUAL {
                if (tls.clientCertificate ?? "").isEmpty { error(path / "clientCertificate", "MUTUAL TLS requires clientCertificate") }
                if (tls.privateKey ?? "").isEmpty { error(path / "privateKey", "MUTUAL TLS requires privateKey") }
            }
        case .ISTIO_MUTUAL:
            for (field, set) in [("clientCertificate", tls.clientCertificate != nil), ("privateKey", tls.privateKey != nil),
                                 ("caCertificates", tls.caCertificates != nil), ("credentialName", tls.credentialName != nil)] where set {
                error(path / field, "ISTIO_MUTUAL uses the mesh's own certificates; \(field) must not be set")
            }
        case .DISABLE:
            break
        }
    }
}

/// Localities of one list (a `distribute` entry's targets, or all its sources) must not overlap:
/// `us-east/*` already covers `us-east/zone1/*`. Istio rejects overlaps in the same way.
struct LocalityOverlap {
    private var seen: [[String]] = []

    /// Records `locality` (`region[/zone[/subzone]]`, `*` ending it), or says what it overlaps.
    mutating func add(_ locality: String) -> String? {
        let parts = locality.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        for earlier in seen where Self.covers(earlier, parts) || Self.covers(parts, earlier) {
            return "locality \"\(locality)\" overlaps \"\(earlier.joined(separator: "/"))\" given before it"
        }
        seen.append(parts)
        return nil
    }

    /// Whether every locality `b` names is also named by `a`: `a` is `b` or a prefix of it (a
    /// region names all its zones), up to a `*`.
    private static func covers(_ a: [String], _ b: [String]) -> Bool {
        for (index, part) in a.enumerated() {
            if part == "*" { return true }
            guard index < b.count, b[index] == part else { return false }
        }
        return true
    }
}
