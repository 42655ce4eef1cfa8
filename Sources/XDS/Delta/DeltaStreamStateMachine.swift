// Delta ADS (`DELTA_GRPC`): which resources a subscription or a new configuration sends or removes.

import EnvoyAPI
import Foundation
import XDSClient

/// One delta stream's bookkeeping: what the proxy subscribed to and which version of each
/// resource it holds. A new configuration sends only the resources whose versions differ and
/// names the ones that are gone. Does no I/O.
public struct DeltaStreamStateMachine: Sendable {
    struct Subscription: Sendable {
        /// nil: every resource of the type (a wildcard subscription).
        var names: Set<String>?
        /// The version of each resource the proxy holds (as last sent or as it told us).
        var held: [String: String] = [:]
        /// Nonces of responses not yet answered, with the system version each carried.
        var pending: [String: String] = [:]
    }

    public private(set) var resources = ResourceSet()
    public private(set) var status: [ResourceType: TypeStatus] = [:]
    private var subscriptions: [ResourceType: Subscription] = [:]
    private var nonceCounter: UInt64 = 0
    private let now: @Sendable () -> Date

    public init(now: @escaping @Sendable () -> Date = Date.init) {
        self.now = now
    }

    /// Handles one request; returns what it was and the response it calls for, if any.
    public mutating func receive(_ request: Envoy_Service_Discovery_V3_DeltaDiscoveryRequest) -> (SotWStreamStateMachine.RequestKind, Envoy_Service_Discovery_V3_DeltaDiscoveryResponse?) {
        guard let type = ResourceType(typeURL: request.typeURL) else { return (.unknownType, nil) }
        var kind = SotWStreamStateMachine.RequestKind.subscribe
        var mustRespond = false
        if !request.responseNonce.isEmpty {
            guard let version = subscriptions[type]?.pending.removeValue(forKey: request.responseNonce) else { return (.stale, nil) }
            if request.hasErrorDetail {
                let message = request.errorDetail.message
                status[type, default: TypeStatus()].nackMessage = message
                status[type, default: TypeStatus()].nackVersion = version
                kind = .nack(message)
            } else {
                status[type, default: TypeStatus()].ackedVersion = version
                status[type, default: TypeStatus()].ackedAt = now()
                status[type, default: TypeStatus()].nackMessage = nil
                status[type, default: TypeStatus()].nackVersion = nil
                kind = .ack
            }
        } else if subscriptions[type] == nil {
            // The first request for the type: wildcard for clusters and listeners unless names are
            // given; the proxy says which versions it still holds (after a reconnect).
            let names = Set(request.resourceNamesSubscribe)
            let wildcard = type.isWildcard && (names.isEmpty || names.contains("*"))
            subscriptions[type] = Subscription(names: wildcard ? nil : names.subtracting(["*"]), held: request.initialResourceVersions)
            // Always answer a first request, even with nothing: Envoy waits for it to initialize.
            mustRespond = true
        }
        if !request.resourceNamesSubscribe.isEmpty || !request.resourceNamesUnsubscribe.isEmpty, !mustRespond {
            if subscriptions[type]?.names != nil {
                subscriptions[type]?.names?.formUnion(request.resourceNamesSubscribe.filter { $0 != "*" })
            }
            // Newly subscribed names are sent even if the proxy held them before.
            for name in request.resourceNamesSubscribe { subscriptions[type]?.held[name] = nil }
            for name in request.resourceNamesUnsubscribe {
                subscriptions[type]?.names?.remove(name)
                subscriptions[type]?.held[name] = nil
            }
        }
        return (kind, response(for: type, always: mustRespond))
    }

    /// Takes a new configuration; returns the responses for every subscribed type with a changed,
    /// added or removed resource, in push order (CDS, EDS, LDS, RDS).
    public mutating func update(_ resources: ResourceSet) -> [Envoy_Service_Discovery_V3_DeltaDiscoveryResponse] {
        self.resources = resources
        return ResourceType.allCases.sorted().compactMap { response(for: $0, always: false) }
    }

    private mutating func response(for type: ResourceType, always: Bool) -> Envoy_Service_Discovery_V3_DeltaDiscoveryResponse? {
        guard var subscription = subscriptions[type] else { return nil }
        let current = resources[type]
        var response = Envoy_Service_Discovery_V3_DeltaDiscoveryResponse()
        for (name, resource) in current.sorted(by: { $0.key < $1.key }) where subscription.names?.contains(name) ?? true {
            guard subscription.held[name] != resource.version else { continue }
            var entry = Envoy_Service_Discovery_V3_Resource()
            entry.name = name
            entry.version = resource.version
            entry.resource = resource.body
            response.resources.append(entry)
            subscription.held[name] = resource.version
        }
        for name in subscription.held.keys.sorted() where current[name] == nil || !(subscription.names?.contains(name) ?? true) {
            response.removedResources.append(name)
            subscription.held[name] = nil
        }
        guard always || !response.resources.isEmpty || !response.removedResources.isEmpty else {
            subscriptions[type] = subscription
            return nil
        }
        nonceCounter += 1
        response.typeURL = type.typeURL
        response.nonce = String(nonceCounter)
        response.systemVersionInfo = resources.version(of: type, names: subscription.names)
        subscription.pending[response.nonce] = response.systemVersionInfo
        subscriptions[type] = subscription
        status[type, default: TypeStatus()].sentVersion = response.systemVersionInfo
        status[type, default: TypeStatus()].sentNonce = response.nonce
        status[type, default: TypeStatus()].sentAt = now()
        status[type, default: TypeStatus()].sentResources = response.resources.count
        return response
    }
}
