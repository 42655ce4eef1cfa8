// Istio's locality load balancing: endpoint priorities and locality weights as one proxy sees them.

import EnvoyAPI
import MeshAPI
import MeshModel
import SwiftProtobuf

/// `region/zone/subzone`, each part possibly empty.
struct Locality: Equatable {
    var region = ""
    var zone = ""
    var subzone = ""

    init(_ text: String) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        if parts.count > 0 { region = parts[0] }
        if parts.count > 1 { zone = parts[1] }
        if parts.count > 2 { subzone = parts[2] }
    }

    /// Istio's `LocalityMatch`: a rule `region/zone/subzone` where `*` (or a missing part)
    /// matches anything.
    func matches(_ rule: String) -> Bool {
        let parts = rule.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        let mine = [region, zone, subzone]
        for (index, part) in parts.prefix(3).enumerated() where part != "*" && part != mine[index] {
            return false
        }
        return true
    }

    /// Istio's `LbPriority`: 0 for the same subzone, 1 same zone, 2 same region, 3 elsewhere.
    func priority(of other: Locality) -> Int {
        guard region == other.region else { return 3 }
        guard zone == other.zone else { return 2 }
        return subzone == other.subzone ? 0 : 1
    }
}

/// Rewrites a cluster's endpoints for one proxy as Istio's `ApplyLocalityLoadBalancer` does:
/// `distribute` sets locality weights (and drops localities it sends nothing to); otherwise,
/// when the cluster has outlier detection (without which Envoy never sees an endpoint fail),
/// `failoverPriority` and the proxy's locality set Envoy priorities so traffic stays close and
/// moves out only as endpoints fail.
enum LocalityLoadBalancer {
    /// Istio's `getLocalityLbSetting`: the DestinationRule's setting overrides MeshConfig's;
    /// `enabled: false` on either (the rule's winning) turns it off. Without either, Istio's
    /// default MeshConfig has locality load balancing on.
    static func setting(rule: LocalityLoadBalancerSetting?, mesh: LocalityLoadBalancerSetting?) -> LocalityLoadBalancerSetting? {
        if let rule { return rule.enabled == false ? nil : rule }
        if let mesh { return mesh.enabled == false ? nil : mesh }
        return LocalityLoadBalancerSetting()
    }

    /// The proxy's view of `endpoints` (all of one cluster), or nil when nothing changes:
    /// the proxy has no locality, or the setting does not apply.
    static func assignment(
        _ name: String, endpoints: [MeshEndpoint], mutualTLS: Set<String> = [], setting: LocalityLoadBalancerSetting, outlierDetection: Bool,
        proxyLocality: String?, proxyLabels: [String: String], proxyNetwork: String?
    ) -> Envoy_Config_Endpoint_V3_ClusterLoadAssignment? {
        guard let proxyLocality, !proxyLocality.isEmpty else { return nil }
        let locality = Locality(proxyLocality)
        if let distribute = setting.distribute, !distribute.isEmpty {
            guard let rule = distribute.first(where: { locality.matches($0.from ?? "") }) else { return nil }
            var assignment = OutboundClusterGenerator.loadAssignment(name, endpoints, mutualTLS: mutualTLS)
            applyWeights(rule.to ?? [:], to: &assignment)
            return assignment
        }
        guard outlierDetection else { return nil }
        let priorities = setting.failoverPriority ?? []
        var assignment: Envoy_Config_Endpoint_V3_ClusterLoadAssignment
        if priorities.isEmpty {
            assignment = OutboundClusterGenerator.loadAssignment(name, endpoints, mutualTLS: mutualTLS)
        } else {
            // Endpoints matching the proxy on the first N labels of the list get priority
            // `count - N`: a locality group splits into one group per priority.
            let byPriority = Dictionary(grouping: endpoints) { endpoint in
                labelPriority(endpoint, priorities, proxyLabels: proxyLabels, proxyLocality: locality, proxyNetwork: proxyNetwork)
            }
            assignment = Envoy_Config_Endpoint_V3_ClusterLoadAssignment()
            assignment.clusterName = name
            for priority in byPriority.keys.sorted() {
                for var group in OutboundClusterGenerator.loadAssignment(name, byPriority[priority]!, mutualTLS: mutualTLS).endpoints {
                    group.priority = UInt32(priority)
                    assignment.endpoints.append(group)
                }
            }
        }
        // Istio applies region failover on top of label priorities when `failover` is given, and
        // alone when no `failoverPriority` is.
        if priorities.isEmpty || !(setting.failover ?? []).isEmpty {
            applyFailover(setting.failover ?? [], proxyLocality: locality, to: &assignment)
        }
        compactPriorities(&assignment)
        return assignment
    }

    /// `distribute.to`: each matching locality's share, split among the localities one pattern
    /// matches by their endpoint weights; a locality no pattern matches gets no traffic. Patterns
    /// are taken most specific first (no wildcard before wildcard), each locality by the first
    /// that matches it, so the result does not depend on map order.
    static func applyWeights(_ shares: [String: UInt32], to assignment: inout Envoy_Config_Endpoint_V3_ClusterLoadAssignment) {
        let patterns = shares.keys.sorted { ($0.filter { $0 == "*" }.count, $0) < ($1.filter { $0 == "*" }.count, $1) }
        var unclaimed = Set(assignment.endpoints.indices)
        var weights: [Int: UInt32] = [:]
        for pattern in patterns {
            let share = shares[pattern] ?? 0
            let claimed = unclaimed.sorted().filter { Locality(description(assignment.endpoints[$0].locality)).matches(pattern) }
            let total = claimed.reduce(0) { $0 + UInt64(max(1, assignment.endpoints[$1].loadBalancingWeight.value)) }
            for index in claimed {
                unclaimed.remove(index)
                let original = UInt64(max(1, assignment.endpoints[index].loadBalancingWeight.value))
                let weight = (original * UInt64(share) + total - 1) / total  // Istio rounds up
                if weight > 0 { weights[index] = UInt32(weight) }
            }
        }
        assignment.endpoints = assignment.endpoints.indices.compactMap { index in
            guard let weight = weights[index] else { return nil }
            var group = assignment.endpoints[index]
            group.loadBalancingWeight = Google_Protobuf_UInt32Value(weight)
            return group
        }
    }

    /// Istio's `applyLocalityFailover`: priority by closeness to the proxy; a region that is not
    /// the proxy's ranks after a `failover` target region (`from` the proxy's region `to` it).
    static func applyFailover(_ failover: [LocalityLoadBalancerSetting.Failover], proxyLocality: Locality,
                              to assignment: inout Envoy_Config_Endpoint_V3_ClusterLoadAssignment) {
        for index in assignment.endpoints.indices {
            let group = Locality(description(assignment.endpoints[index].locality))
            var priority = proxyLocality.priority(of: group)
            if priority == 3, let rule = failover.first(where: { $0.from == proxyLocality.region }), rule.to != group.region {
                priority = 4
            }
            // Label priorities already set are kept as the major order.
            assignment.endpoints[index].priority = assignment.endpoints[index].priority * 5 + UInt32(priority)
        }
    }

    /// Envoy wants priorities 0, 1, 2, ... without gaps; groups are ordered by priority.
    static func compactPriorities(_ assignment: inout Envoy_Config_Endpoint_V3_ClusterLoadAssignment) {
        let used = Set(assignment.endpoints.map(\.priority)).sorted()
        let rank = Dictionary(uniqueKeysWithValues: used.enumerated().map { ($1, UInt32($0)) })
        for index in assignment.endpoints.indices { assignment.endpoints[index].priority = rank[assignment.endpoints[index].priority]! }
        assignment.endpoints = assignment.endpoints.enumerated()
            .sorted { ($0.element.priority, $0.offset) < ($1.element.priority, $1.offset) }.map(\.element)
    }

    /// How many of `keys`, in order, the endpoint shares with the proxy, counted down from the
    /// list's length. `key=value` compares the endpoint with that value; Istio's topology keys
    /// compare localities and networks rather than labels.
    static func labelPriority(_ endpoint: MeshEndpoint, _ keys: [String], proxyLabels: [String: String],
                              proxyLocality: Locality, proxyNetwork: String?) -> Int {
        let endpointLocality = Locality(endpoint.locality ?? "")
        var matched = 0
        for entry in keys {
            let parts = entry.split(separator: "=", maxSplits: 1).map(String.init)
            let key = parts[0]
            let endpointValue: String?
            let proxyValue: String?
            switch key {
            case "topology.kubernetes.io/region":
                (endpointValue, proxyValue) = (endpointLocality.region, proxyLocality.region)
            case "topology.kubernetes.io/zone":
                (endpointValue, proxyValue) = (endpointLocality.zone, proxyLocality.zone)
            case "topology.istio.io/subzone":
                (endpointValue, proxyValue) = (endpointLocality.subzone, proxyLocality.subzone)
            case "topology.istio.io/network":
                (endpointValue, proxyValue) = (endpoint.network, proxyNetwork)
            default:
                (endpointValue, proxyValue) = (endpoint.labels[key], proxyLabels[key])
            }
            let wanted = parts.count == 2 ? parts[1] : proxyValue
            guard let wanted, !wanted.isEmpty, endpointValue == wanted else { break }
            matched += 1
        }
        return keys.count - matched
    }

    static func description(_ locality: Envoy_Config_Core_V3_Locality) -> String {
        "\(locality.region)/\(locality.zone)/\(locality.subZone)"
    }
}
