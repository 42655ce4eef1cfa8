// What translating one VirtualService rule depends on: the proxy, the port and the gateway it is for.

import MeshAPI
import MeshModel

/// The circumstances a VirtualService's rules are translated in. Matches that cannot hold here
/// (another port, another gateway, source labels the proxy lacks) are dropped, as Istio drops them.
struct RouteContext {
    /// Labels of the proxy the routes are for (`sourceLabels`).
    var proxyLabels: [String: String]
    var proxyNamespace: String
    /// The port of the listener (and route configuration) being built.
    var port: UInt32
    /// `mesh` for sidecars, or the `<namespace>/<name>` of the Gateway being built.
    var gateway: String
    /// Services by hostname, to complete destination ports.
    var services: [String: MeshService]
    var virtualServices: VirtualServiceIndex
    /// Hash policies by cluster name, from DestinationRules' consistentHash.
    var hashPolicies: [String: [HashPolicyTranslator.HashPolicy]] = [:]

    /// The Envoy cluster a destination names: `outbound|<port>|<subset>|<host>`. The port is the
    /// destination's, else the service's only port, else the listener's.
    func clusterName(_ destination: Destination, namespace: String) -> String {
        let host = VirtualServiceIndex.qualify(destination.host ?? "", namespace: namespace)
        let port = destination.port?.number
            ?? services[host].flatMap { $0.ports.count == 1 ? $0.ports[0].number : nil }
            ?? self.port
        return ClusterNames.outbound(port: port, subset: destination.subset, host: host)
    }
}
