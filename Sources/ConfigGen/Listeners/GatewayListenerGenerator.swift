// Gateway listeners: the servers of the Gateways selecting a router proxy, one listener per port.

import EnvoyAPI
import MeshAPI
import MeshModel
import SwiftProtobuf

/// A router proxy's listeners and route configurations from the Gateways whose `selector` its
/// labels hold (in any namespace, as in Istio). Per port: plain HTTP servers share one filter
/// chain with RDS `http.<port>`; each HTTPS server gets its own chain, matched by SNI, that
/// terminates TLS with the server's certificate files and uses RDS
/// `https.<port>.<portName>.<gateway>.<namespace>`; a TCP server gets a tcp_proxy chosen by the
/// bound VirtualServices' `tcp` rules.
struct GatewayListenerGenerator {
    let snapshot: MeshSnapshot
    let proxy: MeshProxy
    let virtualServices: VirtualServiceIndex
    var hashPolicies: [String: [HashPolicyTranslator.HashPolicy]] = [:]

    /// A server and the Gateway it belongs to.
    struct SelectedServer {
        var gateway: ResourceReference
        var server: Server
        var index: Int
        var field: String { "servers[\(index)]" }
        var qualifiedGateway: String { "\(gateway.namespace)/\(gateway.name)" }
    }

    func servers() -> [SelectedServer] {
        snapshot.resources(of: .gateway).flatMap { resource -> [SelectedServer] in
            guard case .gateway(let gateway) = resource.spec,
                  (gateway.selector ?? [:]).allSatisfy({ proxy.labels[$0.key] == $0.value }) else { return [] }
            return (gateway.servers ?? []).enumerated().map { SelectedServer(gateway: resource.reference, server: $1, index: $0) }
        }
    }

    func generate() throws -> (listeners: [Envoy_Config_Listener_V3_Listener], routes: [Envoy_Config_Route_V3_RouteConfiguration]) {
        var listeners: [Envoy_Config_Listener_V3_Listener] = []
        var routes: [Envoy_Config_Route_V3_RouteConfiguration] = []
        let routeGenerator = GatewayRouteConfigGenerator(snapshot: snapshot, proxy: proxy, virtualServices: virtualServices, hashPolicies: hashPolicies)
        let byAddress = Dictionary(grouping: servers()) { selected -> String in
            "\(bind(selected.server))_\(selected.server.port?.number ?? 0)"
        }
        for name in byAddress.keys.sorted() {
            let group = byAddress[name] ?? []
            guard let first = group.first, let port = first.server.port?.number else { continue }
            var listener = ListenerAddresses.listener(name: name, bind: bind(first.server), port: port, direction: .outbound)
            let http = group.filter { ListenerProtocol(protocolName: $0.server.port?.protocolName) == .http }
            let https = group.filter { ($0.server.port?.protocolName ?? "").uppercased() == "HTTPS" && $0.server.tls?.mode != .PASSTHROUGH }
            if !http.isEmpty {
                let routeName = "http.\(port)"
                var chain = Envoy_Config_Listener_V3_FilterChain()
                chain.filters = [try HTTPConnectionManagerFactory.filter(statPrefix: "outbound_\(name)", routes: .rds(routeName), forGateway: true)]
                listener.filterChains.append(chain)
                routes.append(try routeGenerator.routeConfiguration(name: routeName, port: port, servers: http))
            }
            var claimed: Set<String> = []
            for selected in https {
                let routeName = "https.\(port).\(selected.server.port?.name ?? "https").\(selected.gateway.name).\(selected.gateway.namespace)"
                var chain = Envoy_Config_Listener_V3_FilterChain()
                let names = (selected.server.hosts ?? []).map(GatewayRouteConfigGenerator.dnsName).filter { $0 != "*" }
                let fresh = names.filter { claimed.insert($0).inserted }
                // Two servers on one port must differ by SNI; a server without names catches the rest once.
                if names.isEmpty { guard claimed.insert("").inserted else { continue } } else if fresh.isEmpty { continue }
                chain.filterChainMatch.serverNames = fresh
                chain.transportSocket = try transportSocket(selected)
                chain.filters = [try HTTPConnectionManagerFactory.filter(statPrefix: "outbound_\(name)", routes: .rds(routeName), forGateway: true)]
                listener.filterChains.append(chain)
                routes.append(try routeGenerator.routeConfiguration(name: routeName, port: port, servers: [selected]))
            }
            if !https.isEmpty { listener.listenerFilters = [try ListenerAddresses.tlsInspector()] }
            // A TCP server takes a port no HTTP server has (one listener, one protocol per port).
            let tcp = group.filter { ListenerProtocol(protocolName: $0.server.port?.protocolName) == .tcp }
            if http.isEmpty, https.isEmpty, let filter = try tcpProxy(port: port, servers: tcp) {
                var chain = Envoy_Config_Listener_V3_FilterChain()
                chain.filters = [filter]
                listener.filterChains.append(chain)
            }
            guard !listener.filterChains.isEmpty else { continue }
            listeners.append(listener)
        }
        return (listeners, routes)
    }

    /// A TCP server's tcp_proxy, as Istio routes TCP on gateways: the first `tcp` rule, of the
    /// VirtualServices bound to the server's Gateway whose hosts meet the server's, that holds on
    /// this port (its `port`, `gateways` and `sourceLabels`). Nil when none does: the port then
    /// gets no listener, as Istio leaves an unrouted TCP server out.
    private func tcpProxy(port: UInt32, servers: [SelectedServer]) throws -> Envoy_Config_Listener_V3_Filter? {
        let services = Dictionary(snapshot.registry.services.filter { SidecarScope.isVisible($0, from: proxy.namespace) }.map { ($0.hostname, $0) },
                                  uniquingKeysWith: { first, _ in first })
        for selected in servers {
            let context = RouteContext(proxyLabels: proxy.labels, proxyNamespace: proxy.namespace, port: port,
                                       gateway: selected.qualifiedGateway, services: services, virtualServices: virtualServices)
            for entry in virtualServices.forGateway(selected.qualifiedGateway) {
                let hostsMeet = (selected.server.hosts ?? []).contains { serverHost in
                    let (namespace, dnsName) = GatewayRouteConfigGenerator.split(serverHost, gatewayNamespace: selected.gateway.namespace)
                    return (namespace == "*" || namespace == entry.namespace) && entry.hosts.contains { HostMatch.overlaps($0, dnsName) }
                }
                guard hostsMeet else { continue }
                for rule in entry.spec.tcp ?? [] {
                    let matches = rule.match ?? []
                    let holds = matches.isEmpty || matches.contains { match in
                        let gateways = (match.gateways ?? []).isEmpty ? nil : VirtualServiceIndex.qualify(gateways: match.gateways, namespace: entry.namespace)
                        return (match.port ?? port) == port && (gateways?.contains(selected.qualifiedGateway) ?? true)
                            && (match.sourceLabels ?? [:]).allSatisfy { proxy.labels[$0.key] == $0.value }
                    }
                    guard holds, let destinations = rule.route, !destinations.isEmpty else { continue }
                    return try TCPProxyFactory.filter(weightedClusters: destinations.map {
                        (context.clusterName($0.destination ?? Destination(), namespace: entry.namespace), UInt32(max($0.weight ?? 100, 0)))
                    })
                }
            }
        }
        return nil
    }

    /// The server's `bind`; else the instance address without capture (gateways in the
    /// embedded mesh share a host, so none binds 0.0.0.0), or 0.0.0.0 with it.
    private func bind(_ server: Server) -> String {
        if let bind = server.bind, !bind.isEmpty { return bind }
        return proxy.interceptionMode == .none ? proxy.address : "0.0.0.0"
    }

    /// SIMPLE or MUTUAL TLS from certificate files on the gateway's machine.
    private func transportSocket(_ selected: SelectedServer) throws -> Envoy_Config_Core_V3_TransportSocket {
        let field = "\(selected.field).tls"
        guard let tls = selected.server.tls else {
            throw TranslationError(selected.gateway, field: field, reason: "an HTTPS server needs tls settings")
        }
        if tls.credentialName != nil || tls.credentialNames != nil {
            throw TranslationError(selected.gateway, field: "\(field).credentialName",
                                   reason: "certificates from Kubernetes secrets are not supported yet; give serverCertificate and privateKey files")
        }
        guard let certificate = tls.serverCertificate, let key = tls.privateKey else {
            throw TranslationError(selected.gateway, field: field, reason: "an HTTPS server needs serverCertificate and privateKey")
        }
        var context = Envoy_Extensions_TransportSockets_Tls_V3_DownstreamTlsContext()
        var pair = Envoy_Extensions_TransportSockets_Tls_V3_TlsCertificate()
        pair.certificateChain.filename = certificate
        pair.privateKey.filename = key
        context.commonTlsContext.tlsCertificates = [pair]
        context.commonTlsContext.alpnProtocols = ["h2", "http/1.1"]
        switch tls.mode ?? .SIMPLE {
        case .SIMPLE:
            break
        case .MUTUAL:
            guard let authority = tls.caCertificates else {
                throw TranslationError(selected.gateway, field: "\(field).caCertificates", reason: "MUTUAL TLS needs caCertificates")
            }
            context.commonTlsContext.validationContext.trustedCa.filename = authority
            context.requireClientCertificate = Google_Protobuf_BoolValue(true)
        case let mode:
            throw TranslationError(selected.gateway, field: "\(field).mode", reason: "TLS mode \(mode.rawValue) is not supported on gateways yet")
        }
        var socket = Envoy_Config_Core_V3_TransportSocket()
        socket.name = "envoy.transport_sockets.tls"
        socket.typedConfig = try Google_Protobuf_Any(message: context)
        return socket
    }
}
