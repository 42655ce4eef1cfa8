// What every proxy's generation shares at one snapshot, computed once per snapshot.

import MeshAPI
import MeshModel
import Synchronization

/// Istio's PushContext: one per snapshot, shared by the generation of every proxy. Whatever
/// depends only on the snapshot and the proxy's namespace (the VirtualServices a namespace sees,
/// each service's outbound clusters as that namespace sees them) is built on first use and kept,
/// so a push to 1,000 proxies builds it once, not 1,000 times. Thread-safe: streams generate
/// concurrently.
public final class PushContext: Sendable {
    public let snapshot: MeshSnapshot

    private struct NamespaceView {
        var virtualServices: VirtualServiceIndex?
        var visibleServices: [MeshService]?
        /// By the Sidecar resource's reference ("" for none).
        var scopes: [String: SidecarScope] = [:]
        var clusters: [String: [OutboundClusterGenerator.Output]] = [:]
    }

    private let views = Mutex<[String: NamespaceView]>([:])

    public init(snapshot: MeshSnapshot) {
        self.snapshot = snapshot
    }

    /// The VirtualServices proxies in `namespace` see.
    func virtualServices(for namespace: String) -> VirtualServiceIndex {
        if let index = views.withLock({ $0[namespace]?.virtualServices }) { return index }
        // Built outside the lock; two streams racing build the same value and one is kept.
        let index = VirtualServiceIndex(snapshot: snapshot, proxyNamespace: namespace)
        views.withLock { $0[namespace, default: NamespaceView()].virtualServices = index }
        return index
    }

    /// The scope of a sidecar proxy: proxies sharing a Sidecar resource share one.
    public func sidecarScope(for proxy: MeshProxy) -> SidecarScope {
        let resource = snapshot.sidecar(namespace: proxy.namespace, labels: proxy.labels)
        let key = resource?.reference.description ?? ""
        let (known, visible) = views.withLock { ($0[proxy.namespace]?.scopes[key], $0[proxy.namespace]?.visibleServices) }
        if let known { return known }
        let services = visible ?? SidecarScope.visibleServices(in: snapshot.registry, from: proxy.namespace)
        let scope = SidecarScope(snapshot: snapshot, namespace: proxy.namespace, sidecar: resource, visibleServices: services)
        views.withLock {
            $0[proxy.namespace, default: NamespaceView()].scopes[key] = scope
            $0[proxy.namespace, default: NamespaceView()].visibleServices = services
        }
        return scope
    }

    /// The outbound clusters (and endpoints) proxies in `namespace` get for the visible services
    /// among `hosts` (all visible services when nil), with BlackHoleCluster and
    /// PassthroughCluster, ordered by name.
    func outboundClusters(for namespace: String, hosts: Set<String>?, mutualTLS: Bool = false) throws -> [OutboundClusterGenerator.Output] {
        let generator = OutboundClusterGenerator(snapshot: snapshot, proxyNamespace: namespace, mutualTLS: mutualTLS)
        let services: [MeshService]
        if let hosts {
            services = hosts.sorted().flatMap { snapshot.registry.services(named: $0) }.filter(generator.isVisible)
        } else {
            services = snapshot.registry.services.filter(generator.isVisible)
        }
        let cached = views.withLock { $0[namespace]?.clusters ?? [:] }
        var outputs: [OutboundClusterGenerator.Output] = []
        var built: [String: [OutboundClusterGenerator.Output]] = [:]
        for service in services {
            // Proxies with and without a workload identity get different clusters (mTLS or not).
            let key = "\(service.hostname)\u{0}\(service.namespace)\u{0}\(mutualTLS)"
            if let known = cached[key] {
                outputs += known
            } else {
                let generated = try generator.generate(service)
                built[key] = generated
                outputs += generated
            }
        }
        if !built.isEmpty {
            views.withLock { $0[namespace, default: NamespaceView()].clusters.merge(built) { first, _ in first } }
        }
        return OutboundClusterGenerator.withFallbacks(outputs)
    }
}
