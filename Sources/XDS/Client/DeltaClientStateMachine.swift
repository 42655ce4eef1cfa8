// The proxy's side of delta ADS: what it holds, what it asks for, and how it answers each response.

import EnvoyAPI
import Foundation
import SwiftProtobuf

/// A delta ADS client's bookkeeping, as a value (responses in, requests out), the counterpart of
/// `DeltaStreamStateMachine`. It subscribes to all clusters and listeners, then to the endpoints
/// of EDS clusters and the route configurations listeners name, as Envoy does. A response is
/// applied whole or not at all: the `apply` callback gets the type's resources as they would be
/// after the response and either accepts them (ACK) or names what it cannot honour (NACK with
/// that reason; the previous resources stay). On reconnection the first requests carry the
/// versions held (`initial_resource_versions`), so the server sends only what changed.
public struct DeltaClientStateMachine: Sendable {
    /// A resource as held: its version and its packed body.
    public struct Held: Sendable, Equatable {
        public var version: String
        public var body: Google_Protobuf_Any
    }

    public let node: Envoy_Config_Core_V3_Node
    /// Accepted resources by type and name.
    public private(set) var held: [ResourceType: [String: Held]] = [:]
    /// Names subscribed to, for the types that are not wildcard (EDS, RDS).
    public private(set) var subscribed: [ResourceType: Set<String>] = [:]
    /// The last rejection per type, for the admin page.
    public private(set) var lastRejection: [ResourceType: String] = [:]

    public init(node: Envoy_Config_Core_V3_Node) {
        self.node = node
    }

    /// The requests that open a stream: wildcard CDS and LDS, and the EDS/RDS names held,
    /// each with the versions held so nothing is sent twice.
    public func openingRequests() -> [Envoy_Service_Discovery_V3_DeltaDiscoveryRequest] {
        var requests: [Envoy_Service_Discovery_V3_DeltaDiscoveryRequest] = []
        for type in ResourceType.allCases.sorted() {
            guard type.isWildcard || !(subscribed[type] ?? []).isEmpty else { continue }
            var request = Envoy_Service_Discovery_V3_DeltaDiscoveryRequest()
            request.typeURL = type.typeURL
            if requests.isEmpty { request.node = node }
            if !type.isWildcard { request.resourceNamesSubscribe = (subscribed[type] ?? []).sorted() }
            request.initialResourceVersions = (held[type] ?? [:]).mapValues(\.version)
            requests.append(request)
        }
        return requests
    }

    /// A response: the type's resources after it are offered to `apply`; the answer is the ACK or
    /// NACK, and any new subscriptions the accepted resources call for.
    public mutating func receive(
        _ response: Envoy_Service_Discovery_V3_DeltaDiscoveryResponse,
        apply: ([String: Held]) -> String?
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
            next[resource.name] = Held(version: resource.version, body: resource.resource)
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
        let dependent: ResourceType
        let wanted: Set<String>
        switch type {
        case .cluster:
            dependent = .endpoint
            wanted = Set((held[.cluster] ?? [:]).values.compactMap { held in
                guard let cluster = try? Envoy_Config_Cluster_V3_Cluster(unpackingAny: held.body), cluster.type == .eds else { return nil }
                return cluster.edsClusterConfig.serviceName.isEmpty ? cluster.name : cluster.edsClusterConfig.serviceName
            })
        case .listener:
            dependent = .route
            wanted = Set((held[.listener] ?? [:]).values.flatMap { held -> [String] in
                guard let listener = try? Envoy_Config_Listener_V3_Listener(unpackingAny: held.body) else { return [] }
                return listener.filterChains.flatMap(\.filters).compactMap { filter in
                    guard let manager = try? Envoy_Extensions_Filters_Network_HttpConnectionManager_V3_HttpConnectionManager(unpackingAny: filter.typedConfig),
                          case .rds(let rds)? = manager.routeSpecifier else { return nil }
                    return rds.routeConfigName
                }
            })
        default:
            return []
        }
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
