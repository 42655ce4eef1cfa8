// Which Sidecar resource applies to a proxy, answered without scanning every Sidecar.

import MeshAPI

/// The Sidecars of a snapshot arranged for Istio's selection rule: in the proxy's namespace the
/// first (by name) whose `workloadSelector` the proxy's labels hold, else the namespace's
/// Sidecar without a selector, else the root namespace's. Selector Sidecars are bucketed by one
/// of their labels, so selecting for a proxy costs its labels, not the mesh's Sidecars.
struct SidecarIndex: Sendable {
    private struct Candidate: Sendable {
        var order: Int
        var resource: MeshResource
        var selector: [String: String]
    }

    /// namespace → "key\u{0}value" of the selector's smallest key → candidates in order.
    private var bySelectorLabel: [String: [String: [Candidate]]] = [:]
    /// namespace → the first Sidecar without a selector.
    private var namespaceDefault: [String: MeshResource] = [:]

    init(sidecars: [MeshResource]) {
        for (order, resource) in sidecars.enumerated() {
            guard case .sidecar(let sidecar) = resource.spec else { continue }
            let selector = sidecar.workloadSelector?.labels ?? [:]
            if let key = selector.keys.min() {
                bySelectorLabel[resource.namespace, default: [:]]["\(key)\u{0}\(selector[key]!)", default: []]
                    .append(Candidate(order: order, resource: resource, selector: selector))
            } else if namespaceDefault[resource.namespace] == nil {
                namespaceDefault[resource.namespace] = resource
            }
        }
    }

    func sidecar(namespace: String, labels: [String: String], rootNamespace: String) -> MeshResource? {
        if let buckets = bySelectorLabel[namespace] {
            var best: Candidate?
            for (key, value) in labels {
                for candidate in buckets["\(key)\u{0}\(value)"] ?? [] where candidate.order < (best?.order ?? .max) {
                    if candidate.selector.allSatisfy({ labels[$0.key] == $0.value }) { best = candidate }
                }
            }
            if let best { return best.resource }
        }
        return namespaceDefault[namespace] ?? namespaceDefault[rootNamespace]
    }
}
