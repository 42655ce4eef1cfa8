// meshproxy's ADS client against meshd's real ADS server over gRPC, delta and state of the world: subscriptions
// follow the resources, ACKs land, a rejection reaches meshd's syncz with its reason; the state-of-the-world bookkeeping.

import EnvoyAPI
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import MeshAPI
import MeshModel
import SwiftProtobuf
import Synchronization
import Testing
@testable import XDS
import XDSClient

@Suite struct ADSClientTests {
    static let config = """
        apiVersion: networking.istio.io/v1
        kind: ServiceEntry
        metadata: {name: reviews, namespace: default}
        spec:
          hosts: [reviews.default.svc.cluster.local]
          location: MESH_INTERNAL
          resolution: STATIC
          ports: [{number: 9080, name: http, protocol: HTTP}]
          endpoints: [{address: 127.0.51.1}, {address: 127.0.51.2}]
        ---
        apiVersion: networking.istio.io/v1
        kind: WorkloadEntry
        metadata: {name: client, namespace: default}
        spec: {address: 127.0.50.1}
        """

    final class Received: Sendable {
        let names = Mutex<[ResourceType: Set<String>]>([:])
        func record(_ type: ResourceType, _ resources: [String: HeldResource]) {
            names.withLock { $0[type] = Set(resources.keys) }
        }
        var current: [ResourceType: Set<String>] { names.withLock { $0 } }
    }

    /// meshd's ADS server on an ephemeral port with `config`, and an ADS client applying with `apply`.
    static func withServerAndClient(_ wireProtocol: ADSClient.WireProtocol,
                                    apply: @escaping @Sendable (ResourceType, [String: HeldResource]) -> String?,
                                    _ body: (DiscoveryServer) async throws -> Void) async throws {
        let report = ValidationReport.validate([ConfigInput(file: "c.yaml", data: Data(config.utf8))])
        let discovery = DiscoveryServer(snapshot: MeshSnapshot.empty().next(report))
        let server = GRPCServer(transport: HTTP2ServerTransport.Posix(address: .ipv4(host: "127.0.0.1", port: 0), transportSecurity: .plaintext),
                                services: [AggregatedDiscoveryService(server: discovery)])
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await server.serve() }
            guard let address = try await server.listeningAddress?.ipv4 else { throw CancellationError() }
            var node = Envoy_Config_Core_V3_Node()
            node.id = "sidecar~127.0.50.1~client.default~default.svc.cluster.local"
            let client = ADSClient(host: "127.0.0.1", port: address.port, node: node, wireProtocol: wireProtocol, apply: apply, log: { _ in })
            group.addTask { await client.run() }
            try await body(discovery)
            group.cancelAll()
            server.beginGracefulShutdown()
        }
    }

    static func eventually(_ what: String, _ condition: () async -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(10)
        while !(await condition()) {
            guard ContinuousClock.now < deadline else { Issue.record("\(what): not within 10 s"); return }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    @Test(arguments: [ADSClient.WireProtocol.delta, .stateOfTheWorld])
    func subscriptionsFollowClustersAndListeners(_ wireProtocol: ADSClient.WireProtocol) async throws {
        let received = Received()
        try await Self.withServerAndClient(wireProtocol, apply: { type, resources in received.record(type, resources); return nil }) { discovery in
            try await Self.eventually("routes and endpoints arrive") {
                let names = received.current
                return names[.route]?.contains("9080") == true
                    && names[.endpoint]?.contains("outbound|9080||reviews.default.svc.cluster.local") == true
            }
            #expect(received.current[.cluster]?.contains("outbound|9080||reviews.default.svc.cluster.local") == true)
            try await Self.eventually("meshd sees every type acknowledged") {
                guard let connection = await discovery.connectedProxies.first else { return false }
                let types = connection.current.types
                return ResourceType.allCases.allSatisfy { types[$0]?.ackedVersion != nil && types[$0]?.nackMessage == nil }
            }
        }
    }

    @Test(arguments: [ADSClient.WireProtocol.delta, .stateOfTheWorld])
    func aRejectionIsNackedWithItsReasonAndTheRestIsKept(_ wireProtocol: ADSClient.WireProtocol) async throws {
        let received = Received()
        let reason = "listeners[\"127.0.50.1_9080\"].filter_chains[0]: this proxy cannot honour it"
        try await Self.withServerAndClient(wireProtocol, apply: { type, resources in
            if type == .listener { return reason }
            received.record(type, resources)
            return nil
        }) { discovery in
            try await Self.eventually("meshd records the NACK") {
                await discovery.connectedProxies.first?.current.types[.listener]?.nackMessage == reason
            }
            #expect(received.current[.listener] == nil, "a rejected type is not applied")
            #expect(received.current[.cluster]?.isEmpty == false, "clusters were accepted")
            #expect(received.current[.route] == nil, "no routes are asked for while no listener is accepted")
        }
    }
}

@Suite struct DeltaClientStateMachineTests {
    @Test func reconnectionOffersTheVersionsHeld() throws {
        var node = Envoy_Config_Core_V3_Node()
        node.id = "sidecar~127.0.0.1~a.default~default.svc.cluster.local"
        var machine = DeltaClientStateMachine(node: node)
        var cluster = Envoy_Config_Cluster_V3_Cluster()
        cluster.name = "outbound|9080||a.default.svc.cluster.local"
        cluster.type = .eds
        var response = Envoy_Service_Discovery_V3_DeltaDiscoveryResponse()
        response.typeURL = ResourceType.cluster.typeURL
        response.nonce = "1"
        var resource = Envoy_Service_Discovery_V3_Resource()
        resource.name = cluster.name
        resource.version = "v7"
        resource.resource = try Google_Protobuf_Any(message: cluster)
        response.resources = [resource]
        let answers = machine.receive(response) { _ in nil }
        #expect(answers.count == 2, "an ACK and an EDS subscription")
        #expect(answers[1].resourceNamesSubscribe == [cluster.name])
        let opening = machine.openingRequests()
        #expect(opening.map(\.typeURL) == [ResourceType.cluster.typeURL, ResourceType.endpoint.typeURL, ResourceType.listener.typeURL])
        #expect(opening[0].initialResourceVersions == [cluster.name: "v7"])
        #expect(opening[0].hasNode && !opening[1].hasNode, "the node goes on the first request only")
    }
}

@Suite struct SotWClientStateMachineTests {
    static func response(_ type: ResourceType, version: String, nonce: String, _ messages: [any SwiftProtobuf.Message]) throws
        -> Envoy_Service_Discovery_V3_DiscoveryResponse {
        var response = Envoy_Service_Discovery_V3_DiscoveryResponse()
        response.typeURL = type.typeURL
        response.versionInfo = version
        response.nonce = nonce
        response.resources = try messages.map { try Google_Protobuf_Any(message: $0) }
        return response
    }

    static func cluster(_ name: String) -> Envoy_Config_Cluster_V3_Cluster {
        var cluster = Envoy_Config_Cluster_V3_Cluster()
        cluster.name = name
        cluster.type = .eds
        return cluster
    }

    static func endpoints(_ name: String, port: UInt32) -> Envoy_Config_Endpoint_V3_ClusterLoadAssignment {
        var assignment = Envoy_Config_Endpoint_V3_ClusterLoadAssignment()
        assignment.clusterName = name
        var endpoint = Envoy_Config_Endpoint_V3_LbEndpoint()
        endpoint.endpoint.address.socketAddress.portValue = port
        var locality = Envoy_Config_Endpoint_V3_LocalityLbEndpoints()
        locality.lbEndpoints = [endpoint]
        assignment.endpoints = [locality]
        return assignment
    }

    @Test func clustersAreAWholeSetEndpointsUpdateByNameAndAcksCarryVersionAndNonce() throws {
        var machine = SotWClientStateMachine(node: Envoy_Config_Core_V3_Node())
        let opening = machine.openingRequests()
        #expect(opening.map(\.typeURL) == [ResourceType.cluster.typeURL, ResourceType.listener.typeURL])
        #expect(opening.allSatisfy { $0.responseNonce.isEmpty && $0.resourceNames.isEmpty })
        var answers = machine.receive(try Self.response(.cluster, version: "c1", nonce: "1", [Self.cluster("a"), Self.cluster("b")])) { _ in nil }
        #expect(answers.count == 2, "an ACK and an EDS subscription")
        #expect(answers[0].versionInfo == "c1" && answers[0].responseNonce == "1" && !answers[0].hasErrorDetail)
        #expect(answers[1].typeURL == ResourceType.endpoint.typeURL && answers[1].resourceNames == ["a", "b"])
        // Endpoints: a response carrying only a's keeps b's.
        _ = machine.receive(try Self.response(.endpoint, version: "e1", nonce: "2", [Self.endpoints("a", port: 1), Self.endpoints("b", port: 2)])) { _ in nil }
        var offered: [String: HeldResource] = [:]
        _ = machine.receive(try Self.response(.endpoint, version: "e2", nonce: "3", [Self.endpoints("a", port: 3)])) { offered = $0; return nil }
        #expect(Set(offered.keys) == ["a", "b"])
        #expect(offered["a"]?.version == "e2" && offered["b"]?.version == "e1")
        // Clusters: what a response leaves out is removed, and its endpoints are unsubscribed and dropped.
        answers = machine.receive(try Self.response(.cluster, version: "c2", nonce: "4", [Self.cluster("a")])) { offered = $0; return nil }
        #expect(Set(offered.keys) == ["a"])
        #expect(answers.count == 2 && answers[1].resourceNames == ["a"])
        #expect(answers[1].responseNonce == "3" && answers[1].versionInfo == "e2", "a subscription change carries the type's latest nonce and version")
        #expect(Set(machine.held[.endpoint]?.keys ?? [:].keys) == ["a"])
        // Reconnecting offers the names held, without a nonce.
        let again = machine.openingRequests()
        #expect(again.map(\.typeURL) == [ResourceType.cluster.typeURL, ResourceType.endpoint.typeURL, ResourceType.listener.typeURL])
        #expect(again[1].resourceNames == ["a"] && again[1].responseNonce.isEmpty)
        #expect(again[0].hasNode && !again[1].hasNode, "the node goes on the first request only")
    }

    @Test func aNackKeepsTheAcceptedVersionAndSaysWhy() throws {
        var machine = SotWClientStateMachine(node: Envoy_Config_Core_V3_Node())
        _ = machine.receive(try Self.response(.cluster, version: "c1", nonce: "1", [Self.cluster("a")])) { _ in nil }
        var answers = machine.receive(try Self.response(.cluster, version: "c2", nonce: "2", [Self.cluster("b")])) { _ in "clusters[b]: no" }
        #expect(answers.count == 1)
        #expect(answers[0].versionInfo == "c1" && answers[0].responseNonce == "2")
        #expect(answers[0].errorDetail.message == "clusters[b]: no")
        #expect(Set(machine.held[.cluster]?.keys ?? [:].keys) == ["a"])
        // A body of another type, or two resources of one name, are refused before `apply`.
        answers = machine.receive(try Self.response(.cluster, version: "c3", nonce: "3", [Self.endpoints("a", port: 1)])) { _ in
            Issue.record("apply must not see a malformed response")
            return nil
        }
        #expect(answers[0].errorDetail.message.contains("resources[0]: is a type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment"))
        answers = machine.receive(try Self.response(.cluster, version: "c4", nonce: "4", [Self.cluster("a"), Self.cluster("a")])) { _ in nil }
        #expect(answers[0].errorDetail.message.contains("a appears twice"))
    }
}
