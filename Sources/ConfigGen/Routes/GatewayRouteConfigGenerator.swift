// Gateway route configurations: virtual hosts where a server's hosts meet the hosts of VirtualServices bound to its Gateway.

import EnvoyAPI
import MeshAPI
import MeshModel
import SwiftProtobuf

/// One route configuration for a gateway port (or HTTPS server). A virtual host per host where
/// a server's `hosts` and a bound VirtualService's `hosts` meet, named by the narrower of the
/// two (`*` only where both are `*`); VirtualServices sharing a host have their routes joined
/// in order, as Istio merges them on gateways.
struct GatewayRouteConfigGenerator {
    let snapshot: MeshSnapshot
    let proxy: MeshProxy
    let virtualServices: VirtualServiceIndex
    var hashPolicies: [String: [HashPolicyTranslator.HashPolicy]] = [:]

    func routeConfiguration(name: String, port: UInt32, servers: [GatewayListenerGenerator.SelectedServer]) throws -> Envoy_Config_Route_V3_RouteConfiguration {
        var config = Envoy_Config_Route_V3_RouteConfiguration()
        config.name = name
        config.validateClusters = Google_Protobuf_BoolValue(false)
        var hosts: [String: Envoy_Config_Route_V3_VirtualHost] = [:]
        var seen: Set<String> = []
        let services = Dictionary(snapshot.registry.services.filter { SidecarScope.isVisible($0, from: proxy.namespace) }.map { ($0.hostname, $0) },
                                  uniquingKeysWith: { first, _ in first })
        for selected in servers {
            let context = RouteContext(proxyLabels: proxy.labels, proxyNamespace: proxy.namespace, port: port,
                                       gateway: selected.qualifiedGateway, services: services, virtualServices: virtualServices,
                                       hashPolicies: hashPolicies)
            let translator = HTTPRouteTranslator(context: context)
            for serverHost in selected.server.hosts ?? [] {
                let (namespace, dnsName) = Self.split(serverHost, gatewayNamespace: selected.gateway.namespace)
                for entry in virtualServices.forGateway(selected.qualifiedGateway) where namespace == "*" || namespace == entry.namespace {
                    for vsHost in entry.hosts where HostMatch.overlaps(vsHost, dnsName) {
                        let domain = HostMatch.matches(pattern: vsHost, host: dnsName) ? dnsName : vsHost
                        // One VirtualService adds its routes to a host once, however many server hosts lead there.
                        guard seen.insert("\(entry.reference)|\(domain)").inserted else { continue }
                        var host = hosts[domain] ?? Envoy_Config_Route_V3_VirtualHost()
                        host.name = "\(domain):\(port)"
                        host.domains = [domain]
                        if selected.server.tls?.httpsRedirect == true { host.requireTls = .all }
                        host.routes += try translator.routes(entry)
                        hosts[domain] = host
                    }
                }
            }
        }
        config.virtualHosts = hosts.keys.sorted().compactMap { hosts[$0] }.filter { !$0.routes.isEmpty }
        if config.virtualHosts.isEmpty {
            // Istio's answer when nothing is bound: every request gets 404 from the gateway.
            var host = Envoy_Config_Route_V3_VirtualHost()
            host.name = "blackhole:\(port)"
            host.domains = ["*"]
            var route = Envoy_Config_Route_V3_Route()
            route.name = "default"
            route.match.prefix = "/"
            route.directResponse.status = 404
            host.routes = [route]
            config.virtualHosts = [host]
        }
        return config
    }

    /// A server host is `namespace/dnsName`: `*` any namespace, `.` the Gateway's; no namespace means any.
    static func split(_ host: String, gatewayNamespace: String) -> (namespace: String, dnsName: String) {
        guard let slash = host.firstIndex(of: "/") else { return ("*", host) }
        let namespace = String(host[..<slash])
        return (namespace == "." ? gatewayNamespace : namespace, String(host[host.index(after: slash)...]))
    }

    static func dnsName(_ host: String) -> String {
        split(host, gatewayNamespace: "").dnsName
    }
}
