// DestinationRule consistentHash → the route's hash_policy (the key; the cluster holds the algorithm).

import EnvoyAPI
import MeshAPI
import SwiftProtobuf

/// Envoy hashes on what the *route* says, while Istio puts the key in the DestinationRule; as
/// Istio does, each route to a consistent-hash cluster carries that cluster's key.
enum HashPolicyTranslator {
    typealias HashPolicy = Envoy_Config_Route_V3_RouteAction.HashPolicy

    /// The hash policy of one consistent-hash setting (header, cookie, source IP or query parameter).
    static func hashPolicy(_ hash: LoadBalancerSettings.ConsistentHashLB) -> [HashPolicy] {
        var policy = HashPolicy()
        if let header = hash.httpHeaderName {
            policy.header.headerName = header
        } else if let cookie = hash.httpCookie {
            policy.cookie.name = cookie.name ?? ""
            if let path = cookie.path { policy.cookie.path = path }
            if let ttl = cookie.ttl { policy.cookie.ttl = TrafficPolicyTranslator.protoDuration(ttl) }
        } else if hash.useSourceIp == true {
            policy.connectionProperties.sourceIp = true
        } else if let parameter = hash.httpQueryParameterName {
            policy.queryParameter.name = parameter
        } else {
            return []
        }
        return [policy]
    }

    /// The hash policy for a route to `clusters`: their common one, or none when they differ
    /// (Istio's rule for weighted routes).
    static func hashPolicy(forClusters clusters: [String], in policies: [String: [HashPolicy]]) -> [HashPolicy] {
        guard let first = clusters.first, let policy = policies[first] else { return [] }
        return clusters.allSatisfy({ policies[$0] == policy }) ? policy : []
    }
}
