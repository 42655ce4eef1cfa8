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

    /// The Sidecar Istio applies: one in the proxy's namespace whose selector the proxy's labels
    /// hold, else the namespace's Sidecar without a selector, else the root namespace's.
    public init(snapshot: MeshSnapshot, proxy: MeshProxy) {
        let sidecars = snapshot.resources(of: .sidecar).compactMap { resource -> (MeshResource, Sidecar)? in
            guard case .sidecar(let sidecar) = resource.spec else { return nil }
            return (resource, sidecar)
        }
        let selected = sidecars.first { resource, sidecar in
            guard resource.namespace == proxy.namespace, let labels = sidecar.workloadSelector?.labels, !labels.isEmpty else { return false }
            return labels.allSatisfy { proxy.labels[$0.key] == $0.value }
        } ?? sidecars.first { resource, sidecar in
            resource.namespace == proxy.namespace && (sidecar.workloadSelector?.labels ?? [:]).isEmpty
        } ?? sidecars.first { resource, sidecar in
            resource.namespace == snapshot.meshConfig.effectiveRootNamespace && (sidecar.workloadSelector?.labels ?? [:]).isEmpty
        }
        self.sidecar = selected?.1
        self.sidecarResource = selected?.0.reference
        self.proxyNamespace = proxy.namespace
        self.visibleServices = snapshot.registry.services.filter { Self.isVisible($0, from: proxy.namespace) }
        if let mode = selected?.1.outboundTrafficPolicy?.mode {
            self.outboundTrafficPolicy = mode
        } else {
            self.outboundTrafficPolicy = snapshot.meshConfig.outboundTrafficPolicy?.mode == .REGISTRY_ONLY ? .REGISTRY_ONLY : .ALLOW_ANY
        }
    }

    /// `exportTo`: `*`, or the proxy's namespace.
    public static func isVisible(_ service: MeshService, from namespace: String) -> Bool {
        service.exportTo.contains("*") || service.exportTo.contains(namespace)
    }

    /// The egress listeners in force: the Sidecar's, or Istio's default of one listener without
    /// port or bind importing `*/*`.
    public var egressListeners: [IstioEgressListener] {
        if let egress = sidecar?.egress, !egress.isEmpty { return egress }
        return [IstioEgressListener(hosts: ["*/*"])]
    }

    /// The visible services an egress listener imports through its `hosts`.
    public func services(importedBy listener: IstioEgressListener) -> [MeshService] {
        let hosts = listener.hosts ?? []
        return visibleServices.filter { service in hosts.contains { Self.egressHost($0, imports: service, proxyNamespace: proxyNamespace) } }
    }

    /// Every service some egress listener imports: what clusters and routes may name.
    public var importedServices: [MeshService] {
        let listeners = egressListeners
        return visibleServices.filter { service in
            listeners.contains { listener in
                (listener.hosts ?? []).contains { Self.egressHost($0, imports: service, proxyNamespace: proxyNamespace) }
            }
        }
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
