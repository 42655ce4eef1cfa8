// What both ADS clients (delta and state-of-the-world) share: a resource as held, the names that follow from held resources, and the bookkeeping's shape.

import EnvoyAPI
import SwiftProtobuf

/// A resource as the proxy holds it: its version and its packed body.
public struct HeldResource: Sendable, Equatable {
    public var version: String
    public var body: Google_Protobuf_Any

    public init(version: String, body: Google_Protobuf_Any) {
        self.version = version
        self.body = body
    }

    /// The names a proxy asks for once `type` changed, as Envoy does: the endpoints of the EDS
    /// clusters held, or the route configurations the held listeners name. nil for types
    /// nothing depends on. Held bodies were decoded once already by whoever accepted them, so a
    /// body that does not unpack here is one of another kind (a TCP proxy filter has no routes).
    static func dependentNames(after type: ResourceType, in held: [ResourceType: [String: HeldResource]])
        -> (ResourceType, Set<String>)? {
        switch type {
        case .cluster:
            return (.endpoint, Set((held[.cluster] ?? [:]).values.compactMap { held in
                guard let cluster = try? Envoy_Config_Cluster_V3_Cluster(unpackingAny: held.body), cluster.type == .eds else { return nil }
                return cluster.edsClusterConfig.serviceName.isEmpty ? cluster.name : cluster.edsClusterConfig.serviceName
            }))
        case .listener:
            return (.route, Set((held[.listener] ?? [:]).values.flatMap { held -> [String] in
                guard let listener = try? Envoy_Config_Listener_V3_Listener(unpackingAny: held.body) else { return [] }
                return listener.filterChains.flatMap(\.filters).compactMap { filter in
                    guard let manager = try? Envoy_Extensions_Filters_Network_HttpConnectionManager_V3_HttpConnectionManager(unpackingAny: filter.typedConfig),
                          case .rds(let rds)? = manager.routeSpecifier else { return nil }
                    return rds.routeConfigName
                }
            }))
        default:
            return nil
        }
    }
}

/// An ADS client's bookkeeping as a value: the requests that open a stream, and the answers
/// (ACK or NACK, new subscriptions) to each response, whose resources go to `apply` whole.
/// The delta and state-of-the-world machines differ only in their messages.
public protocol ADSClientStateMachine: Sendable {
    associatedtype Request: SwiftProtobuf.Message & Sendable
    associatedtype Response: SwiftProtobuf.Message & Sendable

    func openingRequests() -> [Request]
    mutating func receive(_ response: Response, apply: ([String: HeldResource]) -> String?) -> [Request]
    /// The reason a request NACKs, if it does (for the log).
    static func rejection(in request: Request) -> String?
}

extension ResourceType {
    /// The types a stream opens with, in push order: clusters and listeners always, endpoints
    /// and routes once names of theirs are subscribed.
    static func opening(subscribed: [ResourceType: Set<String>]) -> [ResourceType] {
        allCases.sorted().filter { $0.isWildcard || !(subscribed[$0] ?? []).isEmpty }
    }
}
