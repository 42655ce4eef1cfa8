// The SotW and delta bookkeeping: what a request or a new configuration sends, ACK/NACK, versions.

import ConfigGen
import EnvoyAPI
import Testing
@testable import XDS
import XDSClient

@Suite struct StreamStateMachineTests {
    static func resources(clusters: [String], endpoints: [String: Int] = [:]) throws -> ResourceSet {
        var resources = ProxyResources()
        resources.clusters = clusters.map { name in
            var cluster = Envoy_Config_Cluster_V3_Cluster()
            cluster.name = name
            return cluster
        }
        resources.endpoints = endpoints.sorted { $0.key < $1.key }.map { name, port in
            var assignment = Envoy_Config_Endpoint_V3_ClusterLoadAssignment()
            assignment.clusterName = name
            var group = Envoy_Config_Endpoint_V3_LocalityLbEndpoints()
            var endpoint = Envoy_Config_Endpoint_V3_LbEndpoint()
            endpoint.endpoint.address.socketAddress.address = "127.0.0.1"
            endpoint.endpoint.address.socketAddress.portValue = UInt32(port)
            group.lbEndpoints = [endpoint]
            assignment.endpoints = [group]
            return assignment
        }
        return try ResourceSet(resources)
    }

    static func request(_ type: ResourceType, names: [String] = [], nonce: String = "", version: String = "", error: String? = nil) -> Envoy_Service_Discovery_V3_DiscoveryRequest {
        var request = Envoy_Service_Discovery_V3_DiscoveryRequest()
        request.typeURL = type.typeURL
        request.resourceNames = names
        request.responseNonce = nonce
        request.versionInfo = version
        if let error { request.errorDetail.message = error; request.errorDetail.code = 3 }
        return request
    }

    @Test func sotwAnswersSubscribesAcksAndNacks() throws {
        var machine = SotWStreamStateMachine()
        #expect(machine.update(try Self.resources(clusters: ["a", "b"], endpoints: ["a": 1])).isEmpty, "nothing is sent before a request")
        let (kind, first) = machine.receive(Self.request(.cluster))
        #expect(kind == .subscribe)
        let response = try #require(first)
        #expect(response.resources.count == 2 && response.nonce == "1")
        // An ACK with the same names asks for nothing more.
        let (ack, none) = machine.receive(Self.request(.cluster, nonce: "1", version: response.versionInfo))
        #expect(ack == .ack && none == nil)
        #expect(machine.status[.cluster]?.state == "SYNCED")
        // Endpoints are sent by name, only those asked for.
        let (_, eds) = machine.receive(Self.request(.endpoint, names: ["a", "missing"]))
        #expect(eds?.resources.count == 1)
        // A stale nonce is ignored; a NACK is recorded and not answered.
        #expect(machine.receive(Self.request(.cluster, nonce: "0", version: "x")).0 == .stale)
        let changed = machine.update(try Self.resources(clusters: ["a", "b", "c"], endpoints: ["a": 1]))
        #expect(changed.map(\.typeURL) == [ResourceType.cluster.typeURL], "only the type whose content changed is pushed")
        let (nack, reply) = machine.receive(Self.request(.cluster, nonce: changed[0].nonce, version: response.versionInfo, error: "cluster c: bad"))
        #expect(nack == .nack("cluster c: bad") && reply == nil)
        #expect(machine.status[.cluster]?.state == "NACKED")
        #expect(machine.status[.cluster]?.ackedVersion == response.versionInfo, "the proxy keeps the version it acknowledged")
        // Pushing the same content again sends nothing.
        #expect(machine.update(try Self.resources(clusters: ["a", "b", "c"], endpoints: ["a": 1])).isEmpty)
    }

    @Test func sotwPushesInTrafficSafeOrder() throws {
        var machine = SotWStreamStateMachine()
        _ = machine.update(try Self.resources(clusters: ["a"], endpoints: ["a": 1]))
        _ = machine.receive(Self.request(.endpoint, names: ["a"]))
        _ = machine.receive(Self.request(.cluster))
        let pushes = machine.update(try Self.resources(clusters: ["a", "b"], endpoints: ["a": 2]))
        #expect(pushes.map(\.typeURL) == [ResourceType.cluster.typeURL, ResourceType.endpoint.typeURL])
    }

    @Test func deltaSendsOnlyChangesAndRemovals() throws {
        var machine = DeltaStreamStateMachine()
        _ = machine.update(try Self.resources(clusters: ["a", "b"], endpoints: ["a": 1, "b": 1]))
        var subscribe = Envoy_Service_Discovery_V3_DeltaDiscoveryRequest()
        subscribe.typeURL = ResourceType.cluster.typeURL
        let (_, first) = machine.receive(subscribe)
        #expect(first?.resources.map(\.name) == ["a", "b"])
        var eds = Envoy_Service_Discovery_V3_DeltaDiscoveryRequest()
        eds.typeURL = ResourceType.endpoint.typeURL
        eds.resourceNamesSubscribe = ["a"]
        let (_, endpoints) = machine.receive(eds)
        #expect(endpoints?.resources.map(\.name) == ["a"], "only subscribed endpoints")
        // An endpoint-only change pushes EDS alone, and only the changed assignment.
        let pushes = machine.update(try Self.resources(clusters: ["a", "b"], endpoints: ["a": 2, "b": 2]))
        #expect(pushes.map(\.typeURL) == [ResourceType.endpoint.typeURL])
        #expect(pushes.first?.resources.map(\.name) == ["a"])
        // A removed cluster is named in removed_resources.
        let removal = machine.update(try Self.resources(clusters: ["a"], endpoints: ["a": 2]))
        #expect(removal.first?.removedResources == ["b"] && removal.first?.resources.isEmpty == true)
        // ACK and NACK by nonce.
        var ack = Envoy_Service_Discovery_V3_DeltaDiscoveryRequest()
        ack.typeURL = ResourceType.cluster.typeURL
        ack.responseNonce = removal[0].nonce
        ack.errorDetail.message = "rejected"
        #expect(machine.receive(ack).0 == .nack("rejected"))
        #expect(machine.receive(ack).0 == .stale, "a nonce is answered once")
    }

    @Test func deltaReconnectSkipsWhatTheProxyHolds() throws {
        let current = try Self.resources(clusters: ["a", "b"])
        var machine = DeltaStreamStateMachine()
        _ = machine.update(current)
        var subscribe = Envoy_Service_Discovery_V3_DeltaDiscoveryRequest()
        subscribe.typeURL = ResourceType.cluster.typeURL
        subscribe.initialResourceVersions = ["a": current[.cluster]["a"]!.version, "gone": "1"]
        let (_, response) = machine.receive(subscribe)
        #expect(response?.resources.map(\.name) == ["b"])
        #expect(response?.removedResources == ["gone"])
    }

    @Test func nodeIdentityErrorsNameTheField() throws {
        var node = Envoy_Config_Core_V3_Node()
        node.id = "sidecar~127.0.0.5~pp.default~default.svc.cluster.local"
        node.metadata.fields["INTERCEPTION_MODE"] = .init(stringValue: "TPROXY")
        #expect(throws: ProxyIdentityError.self) { try ProxyIdentity(node: node) }
        node.metadata.fields["INTERCEPTION_MODE"] = .init(stringValue: "REDIRECT")
        node.metadata.fields["LABELS"] = .init(structValue: .init(fields: ["app": .init(stringValue: "pp")]))
        let identity = try ProxyIdentity(node: node)
        #expect(identity.metadata.labels == ["app": "pp"] && identity.metadata.interceptionMode == .redirect)
        // The proxy program comes from user_agent_name: Envoy (or anything unknown) gets what
        // stock Envoy accepts, meshproxy also Istio's TCP metadata exchange.
        #expect(identity.metadata.dataPlane == .envoy)
        node.userAgentName = "meshproxy"
        #expect(try ProxyIdentity(node: node).metadata.dataPlane == .meshproxy)
        node.id = "sidecar~127.0.0.5"
        do {
            _ = try ProxyIdentity(node: node)
            Issue.record("an incomplete node ID was accepted")
        } catch {
            #expect(error.reason.hasPrefix("node.id:"))
        }
    }
}

/// Proxies of one push share packed clusters and endpoints; a different resource under the same
/// name must still get its own bytes and version.
@Suite struct ResourcePackCacheTests {
    static func cluster(_ name: String, connectTimeout seconds: Int64) -> Envoy_Config_Cluster_V3_Cluster {
        var cluster = Envoy_Config_Cluster_V3_Cluster()
        cluster.name = name
        cluster.connectTimeout.seconds = seconds
        return cluster
    }

    @Test func equalResourcesShareTheirPackingAndDifferentOnesDoNot() throws {
        let cache = ResourcePackCache()
        var first = ProxyResources()
        first.clusters = [Self.cluster("outbound|9080||reviews.default.svc.cluster.local", connectTimeout: 10)]
        var second = ProxyResources()
        second.clusters = [Self.cluster("outbound|9080||reviews.default.svc.cluster.local", connectTimeout: 10)]
        var third = ProxyResources()
        third.clusters = [Self.cluster("outbound|9080||reviews.default.svc.cluster.local", connectTimeout: 3)]

        let name = "outbound|9080||reviews.default.svc.cluster.local"
        let a = try ResourceSet(first, cache: cache)[.cluster][name]
        let b = try ResourceSet(second, cache: cache)[.cluster][name]
        let c = try ResourceSet(third, cache: cache)[.cluster][name]
        let uncached = try ResourceSet(third)[.cluster][name]
        #expect(a?.version == b?.version && a?.body == b?.body)
        #expect(c?.version != a?.version, "an equal name with different content is not a hit")
        #expect(c?.version == uncached?.version && c?.body == uncached?.body)
    }
}
