// Outbound route configurations of a sidecar (RDS), one per HTTP port: a virtual host per service, plus the catch-all.

import EnvoyAPI
import MeshAPI
import MeshModel
import SwiftProtobuf

/// The route configuration named by a port number (`"9080"`), as Istio builds it for sidecars:
/// for each service on the port a virtual host `<host>:<port>` whose routes are the
/// VirtualService's for that host, else a default route to `outbound|<port>||<host>`; then
/// `allow_any` (to PassthroughCluster) or `block_all` (502) for every other host.
struct SidecarRouteConfigGenerator {
    let scope: SidecarScope
    let virtualServices: VirtualServiceIndex

    func routeConfiguration(port: UInt32, services: [MeshService], context: RouteContext) throws -> Envoy_Config_Route_V3_RouteConfiguration {
        var config = Envoy_Config_Route_V3_RouteConfiguration()
        config.name = String(port)
        // Routes may name clusters the proxy does not have (a destination it cannot see); Envoy
        // then answers 503 for that route instead of rejecting the whole configuration.
        config.validateClusters = Google_Protobuf_BoolValue(false)
        var claimed: Set<String> = []
        let translator = HTTPRouteTranslator(context: context)
        for service in services.sorted(by: { $0.hostname < $1.hostname }) {
            var host = Envoy_Config_Route_V3_VirtualHost()
            host.name = "\(service.hostname):\(port)"
            // A domain may appear once per route configuration; the first service keeps it.
            host.domains = VirtualHostDomains.domains(hostname: service.hostname, port: port, addresses: service.addresses, proxyNamespace: scope.proxyNamespace)
                .filter { claimed.insert($0).inserted }
            guard !host.domains.isEmpty else { continue }
            if let entry = virtualServices.forMesh(hostname: service.hostname) {
                host.routes = try translator.routes(entry)
            }
            // A VirtualService none of whose rules hold on this port leaves Istio's default.
            if host.routes.isEmpty {
                host.routes = [HTTPRouteTranslator.defaultRoute(cluster: ClusterNames.outbound(port: port, host: service.hostname), hashPolicies: context.hashPolicies)]
            }
            config.virtualHosts.append(host)
        }
        if !claimed.contains("*") { config.virtualHosts.append(Self.catchAll(scope.outboundTrafficPolicy)) }
        return config
    }

    /// Istio's `allow_any` and `block_all` virtual hosts for hosts outside the registry.
    static func catchAll(_ mode: OutboundTrafficPolicy.Mode) -> Envoy_Config_Route_V3_VirtualHost {
        var host = Envoy_Config_Route_V3_VirtualHost()
        host.domains = ["*"]
        var route = Envoy_Config_Route_V3_Route()
        route.match.prefix = "/"
        switch mode {
        case .REGISTRY_ONLY:
            host.name = "block_all"
            route.name = "block_all"
            // What Istio answers: BlackHoleCluster has no endpoints, so say so directly.
            route.directResponse.status = 502
        case .ALLOW_ANY:
            host.name = "allow_any"
            route.name = "allow_any"
            var action = Envoy_Config_Route_V3_RouteAction()
            action.cluster = ClusterNames.passthrough
            RetryPolicyTranslator.applyTimeout(nil, to: &action)
            route.route = action
        }
        host.routes = [route]
        return host
    }
}
