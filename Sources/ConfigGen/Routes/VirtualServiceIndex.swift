// Which VirtualServices a proxy sees, and which of them route a host for the mesh or for a Gateway.

import MeshAPI
import MeshModel

/// The VirtualServices visible from one namespace (`exportTo`), with their hosts qualified as
/// Istio qualifies them, for finding the one that routes a host.
struct VirtualServiceIndex {
    /// One VirtualService with its hosts and gateways spelled out in full.
    struct Entry {
        var reference: ResourceReference
        var namespace: String
        var spec: VirtualService
        /// `reviews` in namespace `default` is `reviews.default.svc.cluster.local`.
        var hosts: [String]
        /// `<namespace>/<name>`, or `mesh`; `[mesh]` when the VirtualService names none.
        var gateways: [String]
    }

    /// Ordered by namespace then name, the order in which Istio lets the first one win.
    let entries: [Entry]
    /// Every VirtualService by namespace and name, visible or not: delegates are looked up here.
    private let byName: [String: Entry]
    /// Sidecar routing (`mesh`): by exact host, first in order wins; wildcard hosts in order.
    private let meshByHost: [String: Entry]
    private let meshWildcards: [Entry]

    init(snapshot: MeshSnapshot, proxyNamespace: String) {
        var entries: [Entry] = []
        var byName: [String: Entry] = [:]
        for resource in snapshot.resources(of: .virtualService) {
            guard case .virtualService(let spec) = resource.spec else { continue }
            let entry = Entry(
                reference: resource.reference, namespace: resource.namespace, spec: spec,
                hosts: (spec.hosts ?? []).map { Self.qualify($0, namespace: resource.namespace) },
                gateways: Self.qualify(gateways: spec.gateways, namespace: resource.namespace))
            byName["\(resource.namespace)/\(resource.name)"] = entry
            let exportTo = (spec.exportTo ?? ["*"]).map { $0 == "." ? resource.namespace : $0 }
            if exportTo.contains("*") || exportTo.contains(proxyNamespace) { entries.append(entry) }
        }
        self.entries = entries
        self.byName = byName
        var meshByHost: [String: Entry] = [:]
        var meshWildcards: [Entry] = []
        for entry in entries where entry.gateways.contains("mesh") {
            for host in entry.hosts where meshByHost[host] == nil { meshByHost[host] = entry }
            if entry.hosts.contains(where: { $0.hasPrefix("*") }) { meshWildcards.append(entry) }
        }
        self.meshByHost = meshByHost
        self.meshWildcards = meshWildcards
    }

    /// The VirtualService that routes `hostname` for sidecars (`gateways` empty or holding
    /// `mesh`): an exact host first, then the first wildcard that covers it.
    func forMesh(hostname: String) -> Entry? {
        meshByHost[hostname] ?? meshWildcards.first { $0.hosts.contains { HostMatch.matches(pattern: $0, host: hostname) } }
    }

    /// The VirtualServices bound to a Gateway, named `<namespace>/<name>`.
    func forGateway(_ gateway: String) -> [Entry] {
        entries.filter { $0.gateways.contains(gateway) && !$0.hosts.isEmpty }
    }

    /// A delegate VirtualService (`delegate.namespace` defaults to the parent's namespace).
    func delegate(_ delegate: Delegate, parentNamespace: String) -> Entry? {
        guard let name = delegate.name else { return nil }
        return byName["\(delegate.namespace ?? parentNamespace)/\(name)"]
    }

    /// Istio's short names: a host without a dot is a service in the resource's namespace.
    static func qualify(_ host: String, namespace: String) -> String {
        if host == "*" || host.contains(".") { return host }
        return "\(host).\(namespace).svc.cluster.local"
    }

    /// Gateway names as `<namespace>/<name>`; `mesh` stays; none means `mesh`.
    static func qualify(gateways: [String]?, namespace: String) -> [String] {
        guard let gateways, !gateways.isEmpty else { return ["mesh"] }
        return gateways.map { $0 == "mesh" || $0.contains("/") ? $0 : "\(namespace)/\($0)" }
    }
}
