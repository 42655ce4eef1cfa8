// What one sidecar sees: the Sidecar resource that applies to it and the services each egress listener imports.

import MeshAPI

/// The Sidecar resource in force for a proxy, and the services it lets the proxy reach, as
/// Istio's `SidecarScope` computes them.
public struct SidecarScope: Sendable {
    /// The Sidecar that applies, with where it came from; nil when none does (Istio's default:
    /// every visible service on every port).
    public let sidecar: Sidecar?
    public let sidecarResource: ResourceReference?
    public let proxyNamespace: String
    /// Services the proxy may see at all (`exportTo`), ordered by hostname.
    public let visibleServices: [MeshService]
    /// Sidecar's `outboundTrafficPolicy.mode`, else MeshConfig's, else ALLOW_ANY.
    public let outboundTrafficPolicy: OutboundTrafficPolicy.Mode
    /// Every service some egress listener imports: what clusters and routes may name, ordered
    /// by hostname.
    public let importedServices: [MeshService]
    private let registry: ServiceRegistry

    /// The scope of a proxy: the Sidecar Istio applies to it (one in the proxy's namespace whose
    /// selector the proxy's labels hold, else the namespace's Sidecar without a selector, else
    /// the root namespace's) and what that Sidecar imports.
    public init(snapshot: MeshSnapshot, proxy: MeshProxy) {
        self.init(snapshot: snapshot, namespace: proxy.namespace, sidecar: snapshot.sidecar(namespace: proxy.namespace, labels: proxy.labels))
    }

    /// The scope a Sidecar resource (or none) gives proxies in `namespace`. It depends on nothing
    /// else of the proxy, so proxies sharing a Sidecar share one scope. `visibleServices` may be
    /// passed when already known for the namespace.
    public init(snapshot: MeshSnapshot, namespace: String, sidecar resource: MeshResource?, visibleServices: [MeshService]? = nil) {
        let selected: (MeshResource, Sidecar)?
        if let resource, case .sidecar(let sidecar) = resource.spec { selected = (resource, sidecar) } else { selected = nil }
        self.sidecar = selected?.1
        self.sidecarResource = selected?.0.reference
        self.proxyNamespace = namespace
        self.registry = snapshot.registry
        self.visibleServices = visibleServices ?? Self.visibleServices(in: snapshot.registry, from: namespace)
        if let mode = selected?.1.outboundTrafficPolicy?.mode {
            self.outboundTrafficPolicy = mode
        } else {
            self.outboundTrafficPolicy = snapshot.meshConfig.outboundTrafficPolicy?.mode == .REGISTRY_ONLY ? .REGISTRY_ONLY : .ALLOW_ANY
        }
        let egress = selected?.1.egress.flatMap { $0.isEmpty ? nil : $0 } ?? Self.defaultEgress
        self.importedServices = Self.services(importedBy: egress.flatMap { $0.hosts ?? [] }, visible: self.visibleServices,
                                              registry: snapshot.registry, proxyNamespace: namespace)
    }

    /// The services proxies in `namespace` may see at all, ordered by hostname.
    public static func visibleServices(in registry: ServiceRegistry, from namespace: String) -> [MeshService] {
        registry.services.filter { isVisible($0, from: namespace) }
    }

    /// `exportTo`: `*`, or the proxy's namespace.
    public static func isVisible(_ service: MeshService, from namespace: String) -> Bool {
        service.exportTo.contains("*") || service.exportTo.contains(namespace)
    }

    /// The egress listeners in force: the Sidecar's, or Istio's default of one listener without
    /// port or bind importing `*/*`.
    public var egressListeners: [IstioEgressListener] {
        if let egress = sidecar?.egress, !egress.isEmpty { return egress }
        return Self.defaultEgress
    }

    private static let defaultEgress = [IstioEgressListener(hosts: ["*/*"])]

    /// The visible services an egress listener imports through its `hosts`.
    public func services(importedBy listener: IstioEgressListener) -> [MeshService] {
        Self.services(importedBy: listener.hosts ?? [], visible: visibleServices, registry: registry, proxyNamespace: proxyNamespace)
    }

    /// The visible services egress hosts import, ordered by hostname then namespace. An exact
    /// DNS name is looked up rather than matched against every service: a proxy scoped to ten
    /// services costs ten lookups however large the mesh is.
    private static func services(importedBy hosts: [String], visible: [MeshService], registry: ServiceRegistry, proxyNamespace: String) -> [MeshService] {
        var found: [String: MeshService] = [:]
        for host in hosts {
            let dnsName = host.firstIndex(of: "/").map { String(host[host.index(after: $0)...]) } ?? host
            let candidates = dnsName.contains("*") ? visible : registry.services(named: dnsName).filter { isVisible($0, from: proxyNamespace) }
            for service in candidates where egressHost(host, imports: service, proxyNamespace: proxyNamespace) {
                found["\(service.hostname)\u{0}\(service.namespace)"] = service
            }
        }
        return found.sorted { $0.key < $1.key }.map(\.value)
    }

    /// Whether an egress host `namespace/dnsName` imports a service: the namespace is `*` (any),
    /// `.` (the proxy's), `~` (none) or a name; the DNS name is `*`, a `*.suffix` wildcard or exact.
    public static func egressHost(_ host: String, imports service: MeshService, proxyNamespace: String) -> Bool {
        let namespace: Substring
        let dnsName: Substring
        if let slash = host.firstIndex(of: "/") {
            namespace = host[..<slash]
            dnsName = host[host.index(after: slash)...]
        } else {
            // Istio reads a bare host as `*/host`.
            namespace = "*"
            dnsName = Substring(host)
        }
        switch namespace {
        case "~": return false
        case "*": break
        case ".": guard service.namespace == proxyNamespace else { return false }
        default: guard service.namespace == namespace else { return false }
        }
        return HostMatch.matches(pattern: String(dnsName), host: service.hostname)
    }
}

/// Istio's host name matching, with `*` and `*.suffix` wildcards on either side.
public enum HostMatch {
    /// Whether `pattern` covers `host`: equal, `*`, or a `*.suffix` wildcard covering the host (a
    /// wildcard host is covered only by an equal or wider wildcard).
    public static func matches(pattern: String, host: String) -> Bool {
        if pattern == "*" || pattern == host { return true }
        guard pattern.hasPrefix("*") else { return false }
        let suffix = pattern.dropFirst()
        if host.hasPrefix("*") { return host.dropFirst().hasSuffix(suffix) }
        return host.hasSuffix(suffix)
    }

    /// Whether two host patterns overlap (either covers the other): how a Gateway server's hosts
    /// and a VirtualService's hosts intersect.
    public static func overlaps(_ first: String, _ second: String) -> Bool {
        matches(pattern: first, host: second) || matches(pattern: second, host: first)
    }
}
