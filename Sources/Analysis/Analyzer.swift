// meshctl analyze's checks across a whole mesh: references, conflicts, dead rules, idle selectors.

import MeshAPI
import MeshModel

/// One finding: a stable code (Istio's where Istio has the check, `SM` ones for ours), where it
/// is, and how to fix it.
public struct Finding: Sendable, CustomStringConvertible, Equatable {
    public var code: String
    public var severity: Severity
    public var resource: ResourceReference
    public var path: FieldPath
    public var location: SourceLocation?
    public var message: String

    public var description: String {
        let place = location.map { "\($0.description): " } ?? ""
        let field = path.components.isEmpty ? "" : "\(path.description): "
        return "\(place)\(severity.rawValue) [\(code)] \(resource.description): \(field)\(message)"
    }
}

/// The checks, run over a snapshot (its resources and registry). Reference checks need the
/// registry to be the mesh's: they run only when the snapshot registers services (a config
/// without ServiceEntries relies on Kubernetes Services this snapshot cannot see), and selector
/// checks only when it has WorkloadEntries.
public struct Analyzer {
    public enum Code {
        /// A VirtualService host or destination that is no service (Istio's IST0101).
        public static let hostNotFound = "IST0101"
        /// A destination subset no DestinationRule defines (Istio's IST0101 for subsets).
        public static let subsetNotFound = "IST0101"
        /// Two VirtualServices for one host on sidecars (Istio's IST0109).
        public static let conflictingVirtualServices = "IST0109"
        /// A selector that matches no workload (Istio's IST0127).
        public static let noMatchingWorkloads = "IST0127"
        /// An HTTP rule no request can reach (Istio's IST0130).
        public static let unreachableRule = "IST0130"
        /// A DestinationRule subset whose labels select no endpoint of its host.
        public static let subsetSelectsNothing = "SM0001"
        /// A Gateway no VirtualService binds.
        public static let gatewayWithoutVirtualService = "SM0002"
    }

    let snapshot: MeshSnapshot

    public init(snapshot: MeshSnapshot) {
        self.snapshot = snapshot
    }

    public func run() -> [Finding] {
        var findings: [Finding] = []
        findings += virtualServiceReferences()
        findings += conflictingVirtualServices()
        findings += unreachableRules()
        findings += idleSubsets()
        findings += idleGateways()
        findings += idleSelectors()
        return findings.sorted { ($0.location?.file ?? "", $0.location?.line ?? 0, $0.location?.column ?? 0, $0.code) < ($1.location?.file ?? "", $1.location?.line ?? 0, $1.location?.column ?? 0, $1.code) }
    }

    private func finding(_ code: String, _ severity: Severity, _ resource: MeshResource, _ path: FieldPath, _ message: String) -> Finding {
        Finding(code: code, severity: severity, resource: resource.reference, path: path, location: resource.location(of: path), message: message)
    }

    static func qualify(_ host: String, namespace: String) -> String {
        host.contains(".") || host.contains("*") ? host : "\(host).\(namespace).svc.cluster.local"
    }

    private var registersServices: Bool { !snapshot.registry.services.isEmpty }

    private func isService(_ host: String) -> Bool {
        if host.hasPrefix("*") { return snapshot.registry.services.contains { HostMatch.matches(pattern: host, host: $0.hostname) } }
        return !snapshot.registry.services(named: host).isEmpty
    }

    private func virtualServices() -> [(MeshResource, VirtualService)] {
        snapshot.resources(of: .virtualService).compactMap { resource in
            guard case .virtualService(let spec) = resource.spec else { return nil }
            return (resource, spec)
        }
    }

    /// Every destination of a VirtualService with its field path.
    private func destinations(_ spec: VirtualService) -> [(FieldPath, Destination)] {
        var found: [(FieldPath, Destination)] = []
        for (index, route) in (spec.http ?? []).enumerated() {
            for (position, target) in (route.route ?? []).enumerated() {
                if let destination = target.destination { found.append((.spec / "http" / index / "route" / position / "destination", destination)) }
            }
            if let mirror = route.mirror { found.append((.spec / "http" / index / "mirror", mirror)) }
        }
        for (kind, routes) in [("tcp", (spec.tcp ?? []).map(\.route)), ("tls", (spec.tls ?? []).map(\.route))] {
            for (index, targets) in routes.enumerated() {
                for (position, target) in (targets ?? []).enumerated() {
                    if let destination = target.destination { found.append((.spec / kind / index / "route" / position / "destination", destination)) }
                }
            }
        }
        return found
    }

    /// IST0101: hosts and destinations that are no service; subsets no DestinationRule defines.
    func virtualServiceReferences() -> [Finding] {
        guard registersServices else { return [] }
        var findings: [Finding] = []
        for (resource, spec) in virtualServices() {
            let onSidecars = (spec.gateways ?? []).isEmpty || spec.gateways!.contains("mesh")
            if onSidecars {
                for (index, host) in (spec.hosts ?? []).enumerated() where host != "*" {
                    let qualified = Self.qualify(host, namespace: resource.namespace)
                    if !isService(qualified) {
                        findings.append(finding(Code.hostNotFound, .warning, resource, .spec / "hosts" / index,
                                                "host \"\(host)\" is no service in the mesh, so sidecars get no route for it; register it with a ServiceEntry (or a WorkloadEntry-backed one) or correct the name"))
                    }
                }
            }
            for (path, destination) in destinations(spec) {
                guard let host = destination.host else { continue }
                let qualified = Self.qualify(host, namespace: resource.namespace)
                if !isService(qualified) {
                    findings.append(finding(Code.hostNotFound, .error, resource, path / "host",
                                            "destination host \"\(host)\" is no service in the mesh: requests routed here fail with 503; add a ServiceEntry for it or correct the name"))
                    continue
                }
                if let subset = destination.subset {
                    let rules = snapshot.destinationRules(forHost: qualified)
                    let defined = rules.contains { ($0.rule.subsets ?? []).contains { $0.name == subset } }
                    if !defined {
                        let fix = rules.isEmpty ? "create a DestinationRule for \(qualified) defining it"
                            : "define it in \(rules[0].resource.reference.description) (subsets there: \(rules.flatMap { ($0.rule.subsets ?? []).compactMap(\.name) }.joined(separator: ", ")))"
                        findings.append(finding(Code.subsetNotFound, .error, resource, path / "subset",
                                                "subset \"\(subset)\" of \(qualified) is not defined, so requests routed here fail with 503; \(fix)"))
                    }
                }
            }
        }
        return findings
    }

    /// IST0109: two VirtualServices in one namespace claim a host for sidecars; only one applies.
    func conflictingVirtualServices() -> [Finding] {
        var claimed: [String: MeshResource] = [:]
        var findings: [Finding] = []
        for (resource, spec) in virtualServices() where (spec.gateways ?? []).isEmpty || spec.gateways!.contains("mesh") {
            for (index, host) in (spec.hosts ?? []).enumerated() {
                let key = "\(resource.namespace)/\(Self.qualify(host, namespace: resource.namespace))"
                if let first = claimed[key] {
                    findings.append(finding(Code.conflictingVirtualServices, .error, resource, .spec / "hosts" / index,
                                            "\(first.reference.description) also routes host \"\(host)\" for sidecars; only one of them takes effect. Merge their rules into one VirtualService"))
                } else {
                    claimed[key] = resource
                }
            }
        }
        return findings
    }

    /// IST0130: an HTTP rule after a catch-all (a rule without match, or with a match on
    /// everything), or with the same match as an earlier rule, never sees a request.
    func unreachableRules() -> [Finding] {
        var findings: [Finding] = []
        for (resource, spec) in virtualServices() {
            var catchAll: Int?
            var seen: [[HTTPMatchRequest]: Int] = [:]
            for (index, route) in (spec.http ?? []).enumerated() {
                let matches = route.match ?? []
                if let earlier = catchAll {
                    findings.append(finding(Code.unreachableRule, .warning, resource, .spec / "http" / index,
                                            "no request reaches this rule: rule \(earlier) before it matches every request. Move this rule above it, or give rule \(earlier) a match"))
                    continue
                }
                if !matches.isEmpty, let earlier = seen[matches] {
                    findings.append(finding(Code.unreachableRule, .warning, resource, .spec / "http" / index / "match",
                                            "no request reaches this rule: rule \(earlier) has the same match. Remove one, or make the matches differ"))
                    continue
                }
                seen[matches] = index
                if matches.isEmpty || matches.contains(where: Self.matchesEverything) { catchAll = index }
            }
        }
        return findings
    }

    /// A match with no condition, or only `uri: {prefix: /}`.
    static func matchesEverything(_ match: HTTPMatchRequest) -> Bool {
        var rest = match
        rest.name = nil
        if let uri = match.uri, uri == StringMatch(prefix: "/") { rest.uri = nil }
        return rest == HTTPMatchRequest()
    }

    /// SM0001: a subset whose labels no endpoint of the host carries.
    func idleSubsets() -> [Finding] {
        guard registersServices else { return [] }
        var findings: [Finding] = []
        for resource in snapshot.resources(of: .destinationRule) {
            guard case .destinationRule(let rule) = resource.spec, let host = rule.host else { continue }
            let qualified = Self.qualify(host, namespace: resource.namespace)
            guard !qualified.contains("*"), isService(qualified) else { continue }
            let endpoints = snapshot.registry.endpoints[qualified] ?? []
            for (index, subset) in (rule.subsets ?? []).enumerated() {
                let labels = subset.labels ?? [:]
                guard !labels.isEmpty, !endpoints.contains(where: { endpoint in labels.allSatisfy { endpoint.labels[$0.key] == $0.value } }) else { continue }
                let shown = labels.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",")
                findings.append(finding(Code.subsetSelectsNothing, .warning, resource, .spec / "subsets" / index / "labels",
                                        "subset \"\(subset.name ?? "")\" selects no endpoint of \(qualified) (none has \(shown)); traffic sent to it fails with 503. Fix the labels or start a workload that has them"))
            }
        }
        return findings
    }

    /// SM0002: a Gateway that no VirtualService binds serves nothing.
    func idleGateways() -> [Finding] {
        let bound = Set(virtualServices().flatMap { resource, spec in
            (spec.gateways ?? []).map { $0.contains("/") ? $0 : "\(resource.namespace)/\($0)" }
        })
        return snapshot.resources(of: .gateway).compactMap { resource in
            guard !bound.contains("\(resource.namespace)/\(resource.name)") else { return nil }
            return finding(Code.gatewayWithoutVirtualService, .warning, resource, .root / "metadata" / "name",
                           "no VirtualService binds this Gateway (in `gateways`), so its listeners answer every request with 404; bind one, or delete the Gateway")
        }
    }

    /// IST0127: a policy whose selector matches no workload applies to nothing.
    func idleSelectors() -> [Finding] {
        let workloads = snapshot.registry.workloads
        guard !workloads.isEmpty else { return [] }
        let root = snapshot.meshConfig.effectiveRootNamespace
        var findings: [Finding] = []
        for resource in snapshot.resources.values.sorted(by: { ($0.kind.rawValue, $0.namespace, $0.name) < ($1.kind.rawValue, $1.namespace, $1.name) }) {
            let selector: (labels: [String: String], path: FieldPath)?
            switch resource.spec {
            case .sidecar(let spec): selector = spec.workloadSelector?.labels.map { ($0, .spec / "workloadSelector" / "labels") }
            case .authorizationPolicy(let spec): selector = spec.selector?.matchLabels.map { ($0, .spec / "selector" / "matchLabels") }
            case .peerAuthentication(let spec): selector = spec.selector?.matchLabels.map { ($0, .spec / "selector" / "matchLabels") }
            case .requestAuthentication(let spec): selector = spec.selector?.matchLabels.map { ($0, .spec / "selector" / "matchLabels") }
            case .telemetry(let spec): selector = spec.selector?.matchLabels.map { ($0, .spec / "selector" / "matchLabels") }
            default: selector = nil
            }
            guard let selector, !selector.labels.isEmpty else { continue }
            let matched = workloads.contains { workload in
                (resource.namespace == root || workload.namespace == resource.namespace)
                    && selector.labels.allSatisfy { workload.labels[$0.key] == $0.value }
            }
            if !matched {
                let shown = selector.labels.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",")
                findings.append(finding(Code.noMatchingWorkloads, .warning, resource, selector.path,
                                        "no workload in namespace \(resource.namespace) has the labels \(shown), so this \(resource.kind.rawValue) applies to nothing; fix the selector or the workload's labels"))
            }
        }
        return findings
    }
}

extension FieldPath {
    fileprivate static let spec = FieldPath.root / "spec"
}
