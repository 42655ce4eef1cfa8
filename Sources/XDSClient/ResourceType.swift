// The xDS resource types meshd serves, their type URLs and the order pushes go out in.

/// One xDS resource type.
public enum ResourceType: String, CaseIterable, Sendable, Hashable, Comparable {
    case cluster = "type.googleapis.com/envoy.config.cluster.v3.Cluster"
    case endpoint = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment"
    case listener = "type.googleapis.com/envoy.config.listener.v3.Listener"
    case route = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration"

    /// The type URL a request names, if meshd serves it.
    public init?(typeURL: String) {
        self.init(rawValue: typeURL)
    }

    public var typeURL: String { rawValue }

    /// Istio's short names, as `proxy-status` and syncz print them.
    public var shortName: String {
        switch self {
        case .cluster: "CDS"
        case .endpoint: "EDS"
        case .listener: "LDS"
        case .route: "RDS"
        }
    }

    /// Clusters and listeners are sent whole (a request for them is a wildcard); endpoints and
    /// routes are sent by the names the proxy asks for.
    public var isWildcard: Bool { self == .cluster || self == .listener }

    /// The order that avoids traffic loss: a cluster exists before its endpoints are used and
    /// before a route names it; a listener exists before its routes arrive (CDS, EDS, LDS, RDS).
    public var pushOrder: Int {
        switch self {
        case .cluster: 0
        case .endpoint: 1
        case .listener: 2
        case .route: 3
        }
    }

    public static func < (lhs: ResourceType, rhs: ResourceType) -> Bool { lhs.pushOrder < rhs.pushOrder }
}
