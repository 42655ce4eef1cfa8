// Checks across a set of resources: duplicates, and references that point at nothing in the set.

struct CrossResourceChecks {
    let resources: [MeshResource]
    let meshConfig: MeshConfig?
    /// Resources that had decoding problems: what they define is not fully known, so
    /// references to them are not judged.
    var incomplete: Set<ResourceReference> = []

    func run() -> [Diagnostic] {
        var diagnostics: [Diagnostic] = []
        var seen: [String: MeshResource] = [:]
        for resource in resources {
            let key = "\(resource.kind.rawValue)/\(resource.namespace)/\(resource.name)"
            if let first = seen[key], !resource.name.isEmpty {
                let firstPlace = first.source.map { " (first defined at \($0.location(of: FieldPath.root / "metadata" / "name")))" } ?? ""
                // Files of alternatives (Istio's task samples) reuse names; applied together, the
                // later one replaces the earlier, which is worth knowing but not invalid.
                diagnostics.append(diagnostic(.warning, resource, FieldPath.root / "metadata" / "name",
                                              "\(resource.reference) is defined twice\(firstPlace); the later definition replaces the earlier"))
            } else {
                seen[key] = resource
            }
        }
        let services = serviceHosts()
        // Exact names are looked up; only the few wildcard entries need a scan.
        let wildcardServices = services.filter { $0.hasPrefix("*") }
        var subsets: [String: Set<String>] = [:]
        var unknownSubsets: Set<String> = []
        for resource in resources {
            guard case .destinationRule(let rule) = resource.spec, let host = rule.host else { continue }
            let qualified = qualify(host, namespace: resource.namespace)
            if incomplete.contains(resource.reference) { unknownSubsets.insert(qualified) }
            subsets[qualified, default: []].formUnion((rule.subsets ?? []).compactMap(\.name))
        }
        let hasDestinationRules = resources.contains { $0.kind == .destinationRule }
        for resource in resources {
            guard case .virtualService(let service) = resource.spec else { continue }
            let spec = FieldPath.spec
            if !services.isEmpty {
                // An empty host stands in for one that failed to decode; it was reported then.
                for (index, host) in (service.hosts ?? []).enumerated() where !host.isEmpty && !host.contains("*") && IPAddress.parse(host) == nil {
                    let gatewayOnly = !(service.gateways ?? []).isEmpty && !(service.gateways ?? []).contains("mesh")
                    let qualified = qualify(host, namespace: resource.namespace)
                    if !gatewayOnly && !services.contains(qualified) && !wildcardServices.contains(where: { HostNames.matches($0, qualified) }) {
                        diagnostics.append(diagnostic(.warning, resource, spec / "hosts" / index,
                                                      "no ServiceEntry in this input defines host \"\(host)\"; fine if it is a Kubernetes Service or is defined elsewhere, otherwise these routes are never used"))
                    }
                }
            }
            for (routeIndex, route) in (service.http ?? []).enumerated() {
                for (index, destination) in (route.route ?? []).enumerated() {
                    let path = spec / "http" / routeIndex / "route" / index / "destination"
                    diagnostics += destinationChecks(resource, path, destination.destination, services: services, subsets: subsets,
                                                     checkSubsets: hasDestinationRules, unknownSubsets: unknownSubsets)
                }
            }
            for (kind, routes) in [("tcp", service.tcp?.map(\.route)), ("tls", service.tls?.map(\.route))] {
                for (routeIndex, route) in (routes ?? []).enumerated() {
                    for (index, destination) in (route ?? []).enumerated() {
                        let path = spec / kind / routeIndex / "route" / index / "destination"
                        diagnostics += destinationChecks(resource, path, destination.destination, services: services, subsets: subsets,
                                                         checkSubsets: hasDestinationRules, unknownSubsets: unknownSubsets)
                    }
                }
            }
        }
        diagnostics += providerChecks()
        return diagnostics
    }

    /// Providers named by policies must be defined in the mesh config (Istio also knows
    /// `prometheus` and `envoy` without definition).
    private func providerChecks() -> [Diagnostic] {
        // Known only when the input registers services: a file checked alone is not warned.
        let services = serviceHosts()
        guard let meshConfig else { return [] }
        let defined = Set((meshConfig.extensionProviders ?? []).compactMap(\.name)).union(["prometheus", "envoy"])
        var diagnostics: [Diagnostic] = []
        func check(_ resource: MeshResource, _ path: FieldPath, _ name: String?) {
            guard let name, !name.isEmpty, !defined.contains(name) else { return }
            diagnostics.append(diagnostic(.warning, resource, path,
                                          "provider \"\(name)\" is not defined in the mesh config's extensionProviders (\(defined.sorted().joined(separator: ", ")))"))
        }
        for resource in resources {
            let spec = FieldPath.spec
            switch resource.spec {
            case .authorizationPolicy(let policy) where policy.action == .CUSTOM:
                check(resource, spec / "provider" / "name", policy.provider?.name)
            case .telemetry(let telemetry):
                for (field, lists) in [("tracing", telemetry.tracing?.map(\.providers)), ("metrics", telemetry.metrics?.map(\.providers)),
                                       ("accessLogging", telemetry.accessLogging?.map(\.providers))] {
                    for (index, providers) in (lists ?? []).enumerated() {
                        for (providerIndex, provider) in (providers ?? []).enumerated() {
                            let path = spec / field / index / "providers" / providerIndex / "name"
                            check(resource, path, provider.name)
                            if field == "accessLogging", let name = provider.name,
                               let kind = meshConfig.extensionProviders?.first(where: { $0.name == name })?.kindsSet.first,
                               kind != "envoyFileAccessLog" {
                                diagnostics.append(diagnostic(.warning, resource, path,
                                                              "provider \"\(name)\" is \(kind): SwiftMesh writes access logs through envoyFileAccessLog providers only, so this one logs nothing"))
                            }
                            if field == "tracing", let name = provider.name,
                               let defined = meshConfig.extensionProviders?.first(where: { $0.name == name }) {
                                if let kind = defined.kindsSet.first, kind != "zipkin", kind != "opentelemetry" {
                                    diagnostics.append(diagnostic(.warning, resource, path,
                                                                  "provider \"\(name)\" is \(kind): SwiftMesh traces with zipkin and opentelemetry providers only, so this one turns tracing off"))
                                }
                                let service = defined.zipkin?.service ?? defined.opentelemetry?.service
                                let host = service.map { $0.split(separator: "/", maxSplits: 1).last.map(String.init) ?? $0 }
                                if let service, let host, !services.isEmpty, !services.contains(host) {
                                    diagnostics.append(diagnostic(.warning, resource, path,
                                                                  "provider \"\(name)\" sends spans to \(service), which is not a service in the mesh (add a ServiceEntry): no proxy traces until it is"))
                                }
                            }
                        }
                    }
                }
            default:
                break
            }
        }
        return diagnostics
    }

    private func destinationChecks(_ resource: MeshResource, _ path: FieldPath, _ destination: Destination?, services: Set<String>,
                                   subsets: [String: Set<String>], checkSubsets: Bool, unknownSubsets: Set<String>) -> [Diagnostic] {
        guard let destination, let host = destination.host, !host.contains("*") else { return [] }
        let qualified = qualify(host, namespace: resource.namespace)
        var diagnostics: [Diagnostic] = []
        if let subset = destination.subset, checkSubsets, HostNames.isDNS1123Label(subset), !unknownSubsets.contains(qualified),
           !(subsets[qualified] ?? []).contains(subset) {
            diagnostics.append(diagnostic(.warning, resource, path / "subset",
                                          "no DestinationRule in this input defines subset \"\(subset)\" for host \"\(host)\"; requests to it will fail"))
        }
        return diagnostics
    }

    /// Hosts defined by ServiceEntries in the set, fully qualified.
    private func serviceHosts() -> Set<String> {
        var hosts: Set<String> = []
        for resource in resources {
            if case .serviceEntry(let entry) = resource.spec {
                for host in entry.hosts ?? [] { hosts.insert(qualify(host, namespace: resource.namespace)) }
            }
        }
        return hosts
    }

    /// Istio resolves a short name (`reviews`) in the resource's namespace.
    func qualify(_ host: String, namespace: String) -> String {
        host.contains(".") ? host : "\(host).\(namespace).svc.cluster.local"
    }

    private func diagnostic(_ severity: Severity, _ resource: MeshResource, _ path: FieldPath, _ message: String) -> Diagnostic {
        Diagnostic(severity, message, at: resource.source?.location(of: path), resource: resource.reference, path: path)
    }
}
