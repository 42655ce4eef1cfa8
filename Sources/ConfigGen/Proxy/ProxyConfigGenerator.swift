// The whole of one proxy's configuration: clusters, endpoints, listeners and routes.

import EnvoyAPI
import MeshModel

/// Everything meshd sends one proxy, by xDS type, each list ordered by resource name.
public struct ProxyResources: Sendable {
    public var clusters: [Envoy_Config_Cluster_V3_Cluster] = []
    public var endpoints: [Envoy_Config_Endpoint_V3_ClusterLoadAssignment] = []
    public var listeners: [Envoy_Config_Listener_V3_Listener] = []
    public var routes: [Envoy_Config_Route_V3_RouteConfiguration] = []

    public init() {}
}

/// ConfigGen's entry point, the pure function `(MeshSnapshot, MeshProxy) → xDS resources`.
public struct ProxyConfigGenerator {
    public let snapshot: MeshSnapshot

    public init(snapshot: MeshSnapshot) {
        self.snapshot = snapshot
    }

    /// The resources for one proxy. Throws only on a translation that cannot be expressed in
    /// Envoy's API, naming the resource and field.
    public func generate(for proxy: MeshProxy) throws -> ProxyResources {
        var resources = ProxyResources()
        for output in try OutboundClusterGenerator(snapshot: snapshot, proxyNamespace: proxy.namespace).generate() {
            resources.clusters.append(output.cluster)
            if let assignment = output.loadAssignment { resources.endpoints.append(assignment) }
        }
        return resources
    }
}
