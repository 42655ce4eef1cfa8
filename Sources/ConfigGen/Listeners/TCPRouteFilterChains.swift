// VirtualService tcp and tls rules → tcp_proxy filters and SNI-matched filter chains.

import EnvoyAPI
import MeshAPI
import MeshModel

/// Opaque TCP and TLS traffic of one outbound port: `tcp` rules choose (weighted) clusters for a
/// service's port; `tls` rules choose them by the SNI the tls_inspector reads, as Istio's
/// `buildSidecarOutboundTLSFilterChainOpts` / `buildSidecarOutboundTCPFilterChainOpts` do.
struct TCPRouteFilterChains {
    let context: RouteContext

    /// The tcp_proxy for a TCP port. Without a VIP (NONE mode) one address and port can only lead
    /// to one service: the first by hostname, as Istio keeps the first of conflicting listeners.
    func tcpProxy(for services: [MeshService]) throws -> Envoy_Config_Listener_V3_Filter? {
        guard let service = services.first else { return nil }
        if let entry = context.virtualServices.forMesh(hostname: service.hostname),
           let destinations = firstTCPRule(entry.spec.tcp ?? []) {
            return try TCPProxyFactory.filter(weightedClusters: destinations.map {
                (context.clusterName($0.destination ?? Destination(), namespace: entry.namespace), UInt32(max($0.weight ?? 100, 0)))
            })
        }
        return try TCPProxyFactory.filter(cluster: ClusterNames.outbound(port: context.port, host: service.hostname))
    }

    /// Filter chains for a TLS port: each `tls` rule's SNI hosts, then each service's own name;
    /// a server name already claimed is not claimed again (Envoy rejects duplicate matches).
    func tlsChains(for services: [MeshService]) throws -> [Envoy_Config_Listener_V3_FilterChain] {
        var claimed: Set<String> = []
        var chains: [Envoy_Config_Listener_V3_FilterChain] = []
        func add(_ names: [String], _ filter: Envoy_Config_Listener_V3_Filter) {
            let fresh = names.filter { claimed.insert($0).inserted }
            guard !fresh.isEmpty else { return }
            var chain = Envoy_Config_Listener_V3_FilterChain()
            chain.filterChainMatch.serverNames = fresh
            chain.filters = [filter]
            chains.append(chain)
        }
        for service in services {
            if let entry = context.virtualServices.forMesh(hostname: service.hostname) {
                for rule in entry.spec.tls ?? [] {
                    let sniHosts = (rule.match ?? []).filter(applies).flatMap { $0.sniHosts ?? [] }
                    guard !sniHosts.isEmpty, let destinations = rule.route, !destinations.isEmpty else { continue }
                    add(sniHosts, try TCPProxyFactory.filter(weightedClusters: destinations.map {
                        (context.clusterName($0.destination ?? Destination(), namespace: entry.namespace), UInt32(max($0.weight ?? 100, 0)))
                    }))
                }
            }
            add([service.hostname], try TCPProxyFactory.filter(cluster: ClusterNames.outbound(port: context.port, host: service.hostname)))
        }
        return chains
    }

    /// The destinations of the first `tcp` rule that can hold on this port for this proxy.
    private func firstTCPRule(_ rules: [TCPRoute]) -> [RouteDestination]? {
        for rule in rules {
            let matches = rule.match ?? []
            let holds = matches.isEmpty || matches.contains { match in
                (match.port ?? context.port) == context.port
                    && (match.sourceLabels ?? [:]).allSatisfy { context.proxyLabels[$0.key] == $0.value }
            }
            if holds, let destinations = rule.route, !destinations.isEmpty { return destinations }
        }
        return nil
    }

    private func applies(_ match: TLSMatchAttributes) -> Bool {
        (match.port ?? context.port) == context.port && (match.sourceLabels ?? [:]).allSatisfy { context.proxyLabels[$0.key] == $0.value }
    }
}
