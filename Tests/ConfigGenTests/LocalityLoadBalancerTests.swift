// Istio's locality load balancing as one proxy sees it: priorities, failover, weights.

@testable import ConfigGen
import EnvoyAPI
import MeshAPI
@testable import MeshModel
import Testing

@Suite struct LocalityLoadBalancerTests {
    static func endpoint(_ address: String, _ locality: String, labels: [String: String] = [:], network: String? = nil) -> MeshEndpoint {
        MeshEndpoint(hostname: "reviews.default.svc.cluster.local", servicePort: 9080, address: address, port: 8080,
                     labels: labels, serviceAccount: nil, locality: locality, weight: 1, network: network, workload: nil)
    }

    static let helloworld = [
        endpoint("10.0.0.1", "region1/zone1"), endpoint("10.0.0.2", "region1/zone2"),
        endpoint("10.0.0.3", "region2/zone3"), endpoint("10.0.0.4", "region3/zone4"),
    ]

    /// Priority of each endpoint address.
    static func priorities(_ assignment: Envoy_Config_Endpoint_V3_ClusterLoadAssignment?) -> [String: UInt32] {
        var result: [String: UInt32] = [:]
        for group in assignment?.endpoints ?? [] {
            for endpoint in group.lbEndpoints { result[endpoint.endpoint.address.socketAddress.address] = group.priority }
        }
        return result
    }

    @Test func failoverFollowsIstiosPriorityTable() {
        // Istio's locality failover task: region1/zone1 → P0, region1/zone2 → P2 (P1, another
        // subzone, is empty), region2 (the failover target) → P3, region3 → P4; compacted 0...3.
        let setting = LocalityLoadBalancerSetting(failover: [.init(from: "region1", to: "region2")])
        let assignment = LocalityLoadBalancer.assignment("c", endpoints: Self.helloworld, setting: setting, outlierDetection: true,
                                                         proxyLocality: "region1/zone1", proxyLabels: [:], proxyNetwork: nil)
        #expect(Self.priorities(assignment) == ["10.0.0.1": 0, "10.0.0.2": 1, "10.0.0.3": 2, "10.0.0.4": 3])
        #expect(assignment?.endpoints.map(\.priority) == [0, 1, 2, 3], "groups in priority order")
    }

    @Test func withoutOutlierDetectionOrLocalityNothingChanges() {
        let setting = LocalityLoadBalancerSetting()
        #expect(LocalityLoadBalancer.assignment("c", endpoints: Self.helloworld, setting: setting, outlierDetection: false,
                                                proxyLocality: "region1/zone1", proxyLabels: [:], proxyNetwork: nil) == nil,
                "Envoy would never see an endpoint fail, so it would never fail over")
        #expect(LocalityLoadBalancer.assignment("c", endpoints: Self.helloworld, setting: setting, outlierDetection: true,
                                                proxyLocality: nil, proxyLabels: [:], proxyNetwork: nil) == nil)
    }

    @Test func theRuleDecidesWhetherItIsOnAndOverridesTheMesh() {
        let off = LocalityLoadBalancerSetting(enabled: false)
        let distribute = LocalityLoadBalancerSetting(distribute: [.init(from: "*", to: ["*": 100])])
        #expect(LocalityLoadBalancer.setting(rule: nil, mesh: nil) != nil, "Istio's default mesh config has it on")
        #expect(LocalityLoadBalancer.setting(rule: nil, mesh: off) == nil)
        #expect(LocalityLoadBalancer.setting(rule: off, mesh: distribute) == nil)
        #expect(LocalityLoadBalancer.setting(rule: distribute, mesh: off) == distribute)
    }

    @Test func distributeSplitsSharesAndDropsUnnamedLocalities() {
        let endpoints = [
            Self.endpoint("10.0.0.1", "region1/zone1/a"), Self.endpoint("10.0.0.2", "region1/zone1/b"),
            Self.endpoint("10.0.0.3", "region1/zone2/a"), Self.endpoint("10.0.0.4", "region2/zone3/a"),
        ]
        let setting = LocalityLoadBalancerSetting(distribute: [
            .init(from: "region9/*", to: ["region2/*": 100]),
            .init(from: "region1/zone1/*", to: ["region1/zone1/*": 80, "region1/zone2/*": 20]),
        ])
        let assignment = LocalityLoadBalancer.assignment("c", endpoints: endpoints, setting: setting, outlierDetection: false,
                                                         proxyLocality: "region1/zone1/a", proxyLabels: [:], proxyNetwork: nil)
        let weights = Dictionary(uniqueKeysWithValues: (assignment?.endpoints ?? []).map {
            (LocalityLoadBalancer.description($0.locality), $0.loadBalancingWeight.value)
        })
        // zone1's 80 split between its two subzones; region2 is named by no rule that applies.
        #expect(weights == ["region1/zone1/a": 40, "region1/zone1/b": 40, "region1/zone2/a": 20])
    }

    @Test func failoverPriorityRanksByLeadingMatchingLabels() {
        let endpoints = [
            Self.endpoint("10.0.0.1", "region1/zone1", labels: ["cluster": "east", "version": "v1"]),
            Self.endpoint("10.0.0.2", "region1/zone1", labels: ["cluster": "east", "version": "v2"]),
            Self.endpoint("10.0.0.3", "region1/zone1", labels: ["cluster": "west", "version": "v1"]),
        ]
        let setting = LocalityLoadBalancerSetting(failoverPriority: ["cluster", "version"])
        let assignment = LocalityLoadBalancer.assignment("c", endpoints: endpoints, setting: setting, outlierDetection: true,
                                                         proxyLocality: "region1/zone1", proxyLabels: ["cluster": "east", "version": "v1"],
                                                         proxyNetwork: nil)
        #expect(Self.priorities(assignment) == ["10.0.0.1": 0, "10.0.0.2": 1, "10.0.0.3": 2])
        let pinned = LocalityLoadBalancerSetting(failoverPriority: ["cluster=west"])
        let toWest = LocalityLoadBalancer.assignment("c", endpoints: endpoints, setting: pinned, outlierDetection: true,
                                                     proxyLocality: "region1/zone1", proxyLabels: ["cluster": "east"], proxyNetwork: nil)
        #expect(Self.priorities(toWest) == ["10.0.0.1": 1, "10.0.0.2": 1, "10.0.0.3": 0], "key=value names the value to prefer")
    }
}
