// HTTPRouteDestination list → Envoy's cluster or weighted_clusters, with per-destination header edits.

import EnvoyAPI
import MeshAPI
import SwiftProtobuf

/// Where a forwarding route sends requests, as Istio's `translateRoute` does it: one destination
/// is a plain `cluster` (its header edits move onto the route); several become weighted clusters.
enum RouteDestinationTranslator {
    static func apply(_ destinations: [HTTPRouteDestination], namespace: String, context: RouteContext,
                      to route: inout Envoy_Config_Route_V3_Route, action: inout Envoy_Config_Route_V3_RouteAction) {
        // A weight of 0 next to others means "none of the traffic"; Istio leaves such destinations out.
        let sending = destinations.count == 1 ? destinations : destinations.filter { ($0.weight ?? 0) > 0 }
        if sending.count == 1, let only = sending.first {
            action.cluster = context.clusterName(only.destination ?? Destination(), namespace: namespace)
            action.hashPolicy = HashPolicyTranslator.hashPolicy(forClusters: [action.cluster], in: context.hashPolicies)
            HeaderOperationsTranslator.apply(only.headers, to: &route)
            return
        }
        var weighted = Envoy_Config_Route_V3_WeightedCluster()
        for destination in sending {
            var cluster = Envoy_Config_Route_V3_WeightedCluster.ClusterWeight()
            cluster.name = context.clusterName(destination.destination ?? Destination(), namespace: namespace)
            cluster.weight = Google_Protobuf_UInt32Value(UInt32(max(destination.weight ?? 0, 0)))
            HeaderOperationsTranslator.apply(destination.headers, to: &cluster)
            weighted.clusters.append(cluster)
        }
        action.weightedClusters = weighted
        action.hashPolicy = HashPolicyTranslator.hashPolicy(forClusters: weighted.clusters.map(\.name), in: context.hashPolicies)
    }
}
