// The decorator Istio puts on every route: the operation name its spans carry.

import EnvoyAPI

/// Istio names a route's spans `<host>:<port><path>` (`reviews.default.svc.cluster.local:9080/*`)
/// when the route goes to one cluster, and `<VirtualService>:<listener port><path>` otherwise
/// (weighted, redirect, direct response). The path part is the match's prefix followed by `*`,
/// its exact path, or its regex; `/*` without a path match. Outbound proxies pass the name on
/// in `x-envoy-decorator-operation`, and the server side names its span by it.
enum RouteDecorator {
    static func apply(to route: inout Envoy_Config_Route_V3_Route, virtualService: String?, port: UInt32) {
        guard let operation = operation(route, virtualService: virtualService, port: port) else { return }
        route.decorator.operation = operation
    }

    static func operation(_ route: Envoy_Config_Route_V3_Route, virtualService: String?, port: UInt32) -> String? {
        let path: String
        switch route.match.pathSpecifier {
        case .prefix(let prefix)?: path = prefix + "*"
        case .path(let exact)?: path = exact
        case .safeRegex(let regex)?: path = regex.regex
        default: path = "/*"
        }
        if case .route(let action)? = route.action, case .cluster(let cluster)? = action.clusterSpecifier,
           let (host, clusterPort) = outboundHostAndPort(cluster) {
            return "\(host):\(clusterPort)\(path)"
        }
        guard let virtualService else { return nil }
        return "\(virtualService):\(port)\(path)"
    }

    /// `outbound|9080|v1|reviews.default.svc.cluster.local` → (`reviews.default.svc.cluster.local`, `9080`).
    private static func outboundHostAndPort(_ cluster: String) -> (String, Substring)? {
        let parts = cluster.split(separator: "|", omittingEmptySubsequences: false)
        guard parts.count == 4, parts[0] == "outbound" else { return nil }
        return (String(parts[3]), parts[1])
    }
}
