// Inbound listeners of a sidecar: from the Sidecar's ingress entries, else from the services its workload serves.

import EnvoyAPI
import MeshAPI
import MeshModel
import SwiftProtobuf

/// Where a sidecar accepts traffic for its workload and where it hands it over: per Sidecar
/// `ingress` entry a listener on `bind` (default: the instance address) and port, forwarding to
/// `defaultEndpoint`; without ingress entries, one per port of each service whose endpoints are
/// this workload, on the instance address and the endpoint's port, forwarding to 127.0.0.1 on
/// the same port (the embedded contract: the app listens on loopback).
struct SidecarInboundListenerGenerator {
    let snapshot: MeshSnapshot
    let proxy: MeshProxy
    let scope: SidecarScope

    /// One inbound port: where it listens and where it delivers.
    struct InboundPort: Equatable {
        var bind: String
        var number: UInt32
        var protocolKind: ListenerProtocol
        var endpoint: InboundEndpoint
        /// The services the workload serves on this port (none for a Sidecar's ingress entry).
        var services: [MeshService] = []
    }

    func ports() throws -> [InboundPort] {
        if let ingress = scope.sidecar?.ingress, !ingress.isEmpty {
            return try ingress.enumerated().map { index, entry in
                guard let number = entry.port?.number else {
                    throw TranslationError(resource: resourceName, field: "ingress[\(index)].port", reason: "an ingress listener needs a port number")
                }
                let text = entry.defaultEndpoint.flatMap { $0.isEmpty ? nil : $0 } ?? "127.0.0.1:\(number)"
                guard let endpoint = InboundEndpoint(defaultEndpoint: text, instanceAddress: proxy.address) else {
                    throw TranslationError(resource: resourceName, field: "ingress[\(index)].defaultEndpoint",
                                           reason: "\"\(text)\" is not 127.0.0.1:PORT, 0.0.0.0:PORT or unix:///path")
                }
                return InboundPort(bind: entry.bind.flatMap { $0.isEmpty ? nil : $0 } ?? proxy.address, number: number,
                                   protocolKind: ListenerProtocol(protocolName: entry.port?.protocolName), endpoint: endpoint,
                                   services: servicesServed(port: number))
            }
        }
        guard let reference = workloadReference else { return [] }
        var ports: [InboundPort] = []
        for service in snapshot.registry.services(backedBy: reference) {
            for endpoint in snapshot.registry.endpoints[service.hostname] ?? [] where endpoint.workload == reference {
                // The first service to claim a port decides its protocol; every service on it is named.
                if let claimed = ports.firstIndex(where: { $0.number == endpoint.port }) {
                    if !ports[claimed].services.contains(where: { $0.hostname == service.hostname }) { ports[claimed].services.append(service) }
                    continue
                }
                guard let port = service.ports.first(where: { $0.number == endpoint.servicePort }) else { continue }
                ports.append(InboundPort(bind: proxy.address, number: endpoint.port, protocolKind: ListenerProtocol(protocolName: port.protocolName),
                                         endpoint: .socket(host: "127.0.0.1", port: endpoint.port), services: [service]))
            }
        }
        return ports.sorted { $0.number < $1.number }
    }

    private var workloadReference: ResourceReference? {
        proxy.workload.map { ResourceReference(kind: ResourceKind.workloadEntry.rawValue, namespace: $0.namespace, name: $0.name) }
    }

    /// The services whose endpoints on this workload take `port` (what a Sidecar ingress entry
    /// for it serves), by host name.
    private func servicesServed(port: UInt32) -> [MeshService] {
        guard let reference = workloadReference else { return [] }
        return snapshot.registry.services(backedBy: reference).filter { service in
            (snapshot.registry.endpoints[service.hostname] ?? []).contains { $0.workload == reference && $0.port == port }
        }.sorted { $0.hostname < $1.hostname }
    }

    /// A listener per port (NONE mode), its chains by the port's mTLS mode (`chains(_:mode:)`).
    func listeners(_ ports: [InboundPort]) throws -> [Envoy_Config_Listener_V3_Listener] {
        try ports.map { port in
            let name = ListenerAddresses.name(bind: port.bind, port: port.number)
            var listener = ListenerAddresses.listener(name: name, bind: port.bind, port: port.number, direction: .inbound)
            let mode = mutualTLSMode(port: port.number)
            listener.filterChains = try Self.chains(mode: mode) { peerCertificate in
                try Self.filterChain(port, statPrefix: "inbound_\(name)", peerCertificate: peerCertificate)
            }
            if mode != .disable { listener.listenerFilters = [try ListenerAddresses.tlsInspector()] }
            return listener
        }
    }

    /// The mTLS mode inbound traffic gets, on `port` or (nil) on ports no service declares. With
    /// a workload identity (the proxy's agent serves SDS) the PeerAuthentication decides; without
    /// one the proxy has no certificate to offer, so everything is plaintext.
    func mutualTLSMode(port: UInt32?) -> MutualTLSMode {
        proxy.hasIdentity ? snapshot.mutualTLSMode(namespace: proxy.namespace, labels: proxy.labels, port: port) : .disable
    }

    /// The chains one inbound destination gets under `mode`: DISABLE takes plaintext, STRICT mTLS
    /// only, PERMISSIVE tells mTLS from plaintext by the first bytes (the listener's
    /// tls_inspector). The mTLS chain is the same in both modes and PERMISSIVE only adds the
    /// plaintext one: switching modes then leaves the mTLS chain, and the connections on it, in
    /// place (Envoy drains only connections of chains that change). Plaintext under STRICT
    /// matches no chain and is closed. `make(peerCertificate)` builds the chain's filters.
    static func chains(mode: MutualTLSMode, _ make: (_ peerCertificate: Bool) throws -> Envoy_Config_Listener_V3_FilterChain)
        throws -> [Envoy_Config_Listener_V3_FilterChain] {
        if mode == .disable { return [try make(false)] }
        var tls = try make(true)
        tls.filterChainMatch.transportProtocol = "tls"
        tls.transportSocket = try MutualTLS.downstream()
        guard mode == .permissive else { return [tls] }
        var plaintext = try make(false)
        plaintext.filterChainMatch.transportProtocol = "raw_buffer"
        return [tls, plaintext]
    }

    func clusters(_ ports: [InboundPort]) -> [Envoy_Config_Cluster_V3_Cluster] {
        ports.map { port in
            var cluster = InboundClusterGenerator.cluster(port: port.number, endpoint: port.endpoint)
            cluster.metadata = MetricsAttachment.services(port.services.sorted { $0.hostname < $1.hostname })
            return cluster
        }
    }

    /// HTTP ports get an HTTP connection manager with one inline route to the app (Istio's
    /// `inbound|<port>||` route config); other ports a tcp_proxy to the same cluster.
    static func filterChain(_ port: InboundPort, statPrefix: String, peerCertificate: Bool = false) throws -> Envoy_Config_Listener_V3_FilterChain {
        let cluster = ClusterNames.inbound(port: port.number)
        var chain = Envoy_Config_Listener_V3_FilterChain()
        guard port.protocolKind == .http else {
            chain.filters = [try TCPProxyFactory.filter(cluster: cluster)]
            return chain
        }
        var route = Envoy_Config_Route_V3_Route()
        route.name = "default"
        route.match.prefix = "/"
        var action = Envoy_Config_Route_V3_RouteAction()
        action.cluster = cluster
        RetryPolicyTranslator.applyTimeout(nil, to: &action)
        route.route = action
        // Istio names inbound spans by the workload's service: `<service host>:<port>/*`.
        if let service = port.services.min(by: { $0.hostname < $1.hostname }) {
            route.decorator.operation = "\(service.hostname):\(port.number)/*"
        }
        var host = Envoy_Config_Route_V3_VirtualHost()
        host.name = "inbound|http|\(port.number)"
        host.domains = ["*"]
        host.routes = [route]
        var config = Envoy_Config_Route_V3_RouteConfiguration()
        config.name = cluster
        config.virtualHosts = [host]
        config.validateClusters = Google_Protobuf_BoolValue(false)
        chain.filters = [try HTTPConnectionManagerFactory.filter(statPrefix: statPrefix, routes: .inline(config), peerCertificate: peerCertificate)]
        return chain
    }

    private var resourceName: String {
        scope.sidecarResource.map { "Sidecar \($0.namespace)/\($0.name)" } ?? "Sidecar"
    }
}
