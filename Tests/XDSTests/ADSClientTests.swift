// meshproxy's ADS client against meshd's real ADS server over gRPC: subscriptions follow the
// resources, ACKs land, a rejection reaches meshd's syncz with its reason.

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
        func record(_ type: ResourceType, _ resources: [String: DeltaClientStateMachine.Held]) {
            names.withLock { $0[type] = Set(resources.keys) }
        }
        var current: [ResourceType: Set<String>] { names.withLock { $0 } }
    }

    /// meshd's ADS server on an ephemeral port with `config`, and an ADS client applying with `apply`.
    static func withServerAndClient(apply: @escaping @Sendable (ResourceType, [String: DeltaClientStateMachine.Held]) -> String?,
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
            let client = ADSClient(host: "127.0.0.1", port: address.port, node: node, apply: apply, log: { _ in })
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

    @Test func subscriptionsFollowClustersAndListeners() async throws {
        let received = Received()
        try await Self.withServerAndClient(apply: { type, resources in received.record(type, resources); return nil }) { discovery in
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

    @Test func aRejectionIsNackedWithItsReasonAndTheRestIsKept() async throws {
        let received = Received()
        let reason = "listeners[\"127.0.50.1_9080\"].filter_chains[0]: this proxy cannot honour it"
        try await Self.withServerAndClient(apply: { type, resources in
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
