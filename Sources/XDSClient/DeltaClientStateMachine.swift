// The proxy's side of delta ADS: what it holds, what it asks for, and how it answers each response.

import EnvoyAPI
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import SwiftProtobuf

/// A delta ADS client's bookkeeping, as a value (responses in, requests out), the counterpart of
/// `DeltaStreamStateMachine`. It subscribes to all clusters and listeners, then to the endpoints
/// of EDS clusters and the route configurations listeners name, as Envoy does. A response is
/// applied whole or not at all: the `apply` callback gets the type's resources as they would be
/// after the response and either accepts them (ACK) or names what it cannot honour (NACK with
/// that reason; the previous resources stay). On reconnection the first requests carry the
/// versions held (`initial_resource_versions`), so the server sends only what changed.
public struct DeltaClientStateMachine: ADSClientStateMachine {
    public let node: Envoy_Config_Core_V3_Node
    /// Accepted resources by type and name.
    public private(set) var held: [ResourceType: [String: HeldResource]] = [:]
    /// Names subscribed to, for the types that are not wildcard (EDS, RDS).
    public private(set) var subscribed: [ResourceType: Set<String>] = [:]
    /// The last rejection per type, for the admin page.
    public private(set) var lastRejection: [ResourceType: String] = [:]

    public init(node: Envoy_Config_Core_V3_Node) {
        self.node = node
    }

    public static func rejection(in request: Envoy_Service_Discovery_V3_DeltaDiscoveryRequest) -> String? {
        request.hasErrorDetail ? request.errorDetail.message : nil
    }

    /// The requests that open a stream: wildcard CDS and LDS, and the EDS/RDS names held,
    /// each with the versions held so nothing is sent twice.
    public func openingRequests() -> [Envoy_Service_Discovery_V3_DeltaDiscoveryRequest] {
        ResourceType.opening(subscribed: subscribed).enumerated().map { index, type in
            var request = Envoy_Service_Discovery_V3_DeltaDiscoveryRequest()
            request.typeURL = type.typeURL
            if index == 0 { request.node = node }
            if !type.isWildcard { request.resourceNamesSubscribe = (subscribed[type] ?? []).sorted() }
            request.initialResourceVersions = (held[type] ?? [:]).mapValues(\.version)
            return request
        }
    }

    /// A response: the type's resources after it are offered to `apply`; the answer is the ACK or
    /// NACK, and any new subscriptions the accepted resources call for.
    public mutating func receive(
        _ response: Envoy_Service_Discovery_V3_DeltaDiscoveryResponse,
        apply: ([String: HeldResource]) -> String?
    ) -> [Envoy_Service_Discovery_V3_DeltaDiscoveryRequest] {
        var answer = Envoy_Service_Discovery_V3_DeltaDiscoveryRequest()
        answer.typeURL = response.typeURL
        answer.responseNonce = response.nonce
        guard let type = ResourceType(typeURL: response.typeURL) else {
            answer.errorDetail.code = 12  // UNIMPLEMENTED
            answer.errorDetail.message = "type \(response.typeURL) is not one this proxy consumes"
            return [answer]
        }
        var next = held[type] ?? [:]
        for name in response.removedResources { next[name] = nil }
        for resource in response.resources {
            next[resource.name] = HeldResource(version: resource.version, body: resource.resource)
        }
        if let reason = apply(next) {
            answer.errorDetail.code = 3  // INVALID_ARGUMENT
            answer.errorDetail.message = reason
            lastRejection[type] = reason
            return [answer]
        }
        held[type] = next
        lastRejection[type] = nil
        return [answer] + followUps(after: type)
    }

    /// EDS names follow the EDS clusters held; RDS names follow the listeners' route configs.
    mutating func followUps(after type: ResourceType) -> [Envoy_Service_Discovery_V3_DeltaDiscoveryRequest] {
        guard let (dependent, wanted) = HeldResource.dependentNames(after: type, in: held) else { return [] }
        let current = subscribed[dependent] ?? []
        guard wanted != current else { return [] }
        subscribed[dependent] = wanted
        var request = Envoy_Service_Discovery_V3_DeltaDiscoveryRequest()
        request.typeURL = dependent.typeURL
        request.resourceNamesSubscribe = wanted.subtracting(current).sorted()
        request.resourceNamesUnsubscribe = current.subtracting(wanted).sorted()
        // What is no longer wanted is no longer held.
        for name in request.resourceNamesUnsubscribe { held[dependent]?[name] = nil }
        return [request]
    }
}
