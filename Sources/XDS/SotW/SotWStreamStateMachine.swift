// State-of-the-world ADS (`GRPC`): which responses a request or a new configuration calls for.

import EnvoyAPI
import Foundation
import XDSClient

/// One state-of-the-world stream's bookkeeping. Takes requests and new resource sets and returns
/// the responses to send, in push order; does no I/O, so it is tested without a server.
public struct SotWStreamStateMachine: Sendable {
    struct Subscription: Sendable {
        /// nil: every resource of the type (a wildcard request).
        var names: Set<String>?
        /// The content version of the last response, to skip pushes that change nothing.
        var sentContentVersion: String?
    }

    public private(set) var resources = ResourceSet()
    public private(set) var status: [ResourceType: TypeStatus] = [:]
    private var subscriptions: [ResourceType: Subscription] = [:]
    private var nonceCounter: UInt64 = 0
    private let now: @Sendable () -> Date

    public init(now: @escaping @Sendable () -> Date = Date.init) {
        self.now = now
    }

    /// What a request means, for the log and metrics.
    public enum RequestKind: Equatable, Sendable {
        case subscribe
        case ack
        case nack(String)
        /// A response nonce that is not the latest: the proxy answered an older response.
        case stale
        case unknownType
    }

    /// Handles one request; returns what it was and the response it calls for, if any.
    public mutating func receive(_ request: Envoy_Service_Discovery_V3_DiscoveryRequest) -> (RequestKind, Envoy_Service_Discovery_V3_DiscoveryResponse?) {
        guard let type = ResourceType(typeURL: request.typeURL) else { return (.unknownType, nil) }
        let names: Set<String>? = type.isWildcard && (request.resourceNames.isEmpty || request.resourceNames.contains("*"))
            ? nil : Set(request.resourceNames)
        if request.responseNonce.isEmpty {
            // A first request for the type (or after a reconnect): answer with what is current.
            subscriptions[type] = Subscription(names: names)
            return (.subscribe, response(for: type))
        }
        guard request.responseNonce == status[type]?.sentNonce else { return (.stale, nil) }
        if request.hasErrorDetail {
            let message = request.errorDetail.message
            status[type, default: TypeStatus()].nackMessage = message
            status[type, default: TypeStatus()].nackVersion = status[type]?.sentVersion
            return (.nack(message), nil)
        }
        status[type, default: TypeStatus()].ackedVersion = request.versionInfo
        status[type, default: TypeStatus()].ackedAt = now()
        status[type, default: TypeStatus()].nackMessage = nil
        status[type, default: TypeStatus()].nackVersion = nil
        if subscriptions[type]?.names != names {
            // The ACK also changes what the proxy wants (new clusters need their endpoints).
            subscriptions[type]?.names = names
            return (.ack, response(for: type, onlyIfChanged: true))
        }
        return (.ack, nil)
    }

    /// Takes a new configuration; returns the responses for every subscribed type whose content
    /// changed, in push order (CDS, EDS, LDS, RDS).
    public mutating func update(_ resources: ResourceSet) -> [Envoy_Service_Discovery_V3_DiscoveryResponse] {
        self.resources = resources
        return ResourceType.allCases.sorted().compactMap { type in
            subscriptions[type] == nil ? nil : response(for: type, onlyIfChanged: true)
        }
    }

    private mutating func response(for type: ResourceType, onlyIfChanged: Bool = false) -> Envoy_Service_Discovery_V3_DiscoveryResponse? {
        guard let subscription = subscriptions[type] else { return nil }
        let version = resources.version(of: type, names: subscription.names)
        if onlyIfChanged && version == subscription.sentContentVersion { return nil }
        nonceCounter += 1
        var response = Envoy_Service_Discovery_V3_DiscoveryResponse()
        response.typeURL = type.typeURL
        response.versionInfo = version
        response.nonce = String(nonceCounter)
        response.resources = resources[type]
            .filter { subscription.names?.contains($0.key) ?? true }
            .sorted { $0.key < $1.key }
            .map(\.value.body)
        subscriptions[type]?.sentContentVersion = version
        status[type, default: TypeStatus()].sentVersion = version
        status[type, default: TypeStatus()].sentNonce = response.nonce
        status[type, default: TypeStatus()].sentAt = now()
        status[type, default: TypeStatus()].sentResources = response.resources.count
        return response
    }
}
