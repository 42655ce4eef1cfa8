// The SDS client's bookkeeping: what it asks for, ACK and NACK, name changes and reconnection.

import EnvoyAPI
import Foundation
import SwiftProtobuf
import Testing
import XDSClient

@Suite struct SDSClientStateMachineTests {
    static func node() -> Envoy_Config_Core_V3_Node {
        var node = Envoy_Config_Core_V3_Node()
        node.id = "sidecar~10.0.0.2~reviews-v1.default~default.svc.cluster.local"
        return node
    }

    static func response(version: String, nonce: String, _ names: [String]) throws -> Envoy_Service_Discovery_V3_DiscoveryResponse {
        var response = Envoy_Service_Discovery_V3_DiscoveryResponse()
        response.typeURL = SDSClientStateMachine.typeURL
        response.versionInfo = version
        response.nonce = nonce
        for name in names {
            var secret = Envoy_Extensions_TransportSockets_Tls_V3_Secret()
            secret.name = name
            secret.validationContext.trustedCa.inlineString = "pem"
            response.resources.append(try Google_Protobuf_Any(message: secret))
        }
        return response
    }

    @Test func asksForTheConfigsNamesAndAcknowledges() throws {
        var machine = SDSClientStateMachine(node: Self.node())
        // A stream opened before any config names a secret asks for nothing.
        #expect(machine.openingRequest() == nil)
        let firstRequest = machine.want(["ROOTCA", "default"])
        let first = try #require(firstRequest)
        #expect(first.resourceNames == ["ROOTCA", "default"])
        #expect(first.node.id == Self.node().id, "the stream's first request carries the node")
        #expect(first.typeURL == SDSClientStateMachine.typeURL && first.versionInfo.isEmpty && first.responseNonce.isEmpty)
        #expect(machine.want(["default", "ROOTCA"]) == nil, "the same names ask nothing again")

        var applied: [String] = []
        let ack = machine.receive(try Self.response(version: "1-abc", nonce: "1", ["default", "ROOTCA"])) { secrets in
            applied = secrets.keys.sorted()
            return nil
        }
        #expect(applied == ["ROOTCA", "default"])
        #expect(!ack.hasErrorDetail && ack.versionInfo == "1-abc" && ack.responseNonce == "1" && !ack.hasNode)
    }

    @Test func aRefusalKeepsTheAcceptedVersionAndSaysWhy() throws {
        var machine = SDSClientStateMachine(node: Self.node())
        _ = machine.want(["default"])
        _ = machine.receive(try Self.response(version: "1", nonce: "1", ["default"])) { _ in nil }
        let nack = machine.receive(try Self.response(version: "2", nonce: "2", ["default"])) { _ in "secret \"default\": bad key" }
        #expect(nack.versionInfo == "1" && nack.responseNonce == "2" && nack.errorDetail.message == "secret \"default\": bad key")

        // Refused before apply sees it: a nameless or doubled secret, or another type.
        var called = false
        let doubled = machine.receive(try Self.response(version: "3", nonce: "3", ["default", "default"])) { _ in called = true; return nil }
        #expect(!called && doubled.errorDetail.message == "resources[1].name: \"default\" comes twice")
        var other = try Self.response(version: "4", nonce: "4", [])
        other.resources = [try Google_Protobuf_Any(message: Envoy_Config_Cluster_V3_Cluster())]
        let wrongType = machine.receive(other) { _ in called = true; return nil }
        #expect(!called && wrongType.errorDetail.message.hasPrefix("resources[0]: a type.googleapis.com/envoy.config.cluster.v3.Cluster"))
        #expect(wrongType.versionInfo == "1")
    }

    @Test func namesChangeOnTheStreamAndANewStreamStartsOver() throws {
        var machine = SDSClientStateMachine(node: Self.node())
        _ = machine.openingRequest()
        _ = machine.want(["default"])
        _ = machine.receive(try Self.response(version: "1", nonce: "7", ["default"])) { _ in nil }
        let changeRequest = machine.want(["default", "ROOTCA"])
        let change = try #require(changeRequest)
        #expect(change.resourceNames == ["ROOTCA", "default"] && change.responseNonce == "7" && change.versionInfo == "1" && !change.hasNode)

        // Reconnected: the names and version held, the node again, no nonce.
        let reopeningRequest = machine.openingRequest()
        let reopening = try #require(reopeningRequest)
        #expect(reopening.resourceNames == ["ROOTCA", "default"] && reopening.versionInfo == "1" && reopening.responseNonce.isEmpty)
        #expect(reopening.node.id == Self.node().id)
    }
}
