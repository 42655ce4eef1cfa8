// The proxy's side of state-of-the-world ADS (`GRPC`): what it holds, what it asks for, and how it answers each response.

import EnvoyAPI
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import SwiftProtobuf

/// A state-of-the-world ADS client's bookkeeping, the counterpart of `SotWStreamStateMachine`
/// and the sibling of `DeltaClientStateMachine` (same subscriptions, same `apply`). A response
/// for clusters or listeners is the whole set (what it leaves out is removed); a response for
/// endpoints or routes updates the names it carries, and names no longer subscribed are dropped.
/// An ACK repeats the response's version and nonce; a NACK keeps the last accepted version and
/// carries the reason. A change of subscription is a request with the full new name list and the
/// type's latest nonce, as the protocol asks.
public struct SotWClientStateMachine: ADSClientStateMachine {
    public let node: Envoy_Config_Core_V3_Node
    /// Accepted resources by type and name.
    public private(set) var held: [ResourceType: [String: HeldResource]] = [:]
    /// Names subscribed to, for the types that are not wildcard (EDS, RDS).
    public private(set) var subscribed: [ResourceType: Set<String>] = [:]
    /// The version last accepted and the nonce last received, per type.
    private var acceptedVersion: [ResourceType: String] = [:]
    private var lastNonce: [ResourceType: String] = [:]

    public init(node: Envoy_Config_Core_V3_Node) {
        self.node = node
    }

    public static func rejection(in request: Envoy_Service_Discovery_V3_DiscoveryRequest) -> String? {
        request.hasErrorDetail ? request.errorDetail.message : nil
    }

    /// The requests that open a stream: CDS and LDS, and EDS/RDS for the names held, each with
    /// the version held (a new stream has no nonce, so the server answers with what is current).
    public func openingRequests() -> [Envoy_Service_Discovery_V3_DiscoveryRequest] {
        ResourceType.opening(subscribed: subscribed).enumerated().map { index, type in
            var request = request(for: type)
            request.responseNonce = ""
            if index == 0 { request.node = node }
            return request
        }
    }

    public mutating func receive(
        _ response: Envoy_Service_Discovery_V3_DiscoveryResponse,
        apply: ([String: HeldResource]) -> String?
    ) -> [Envoy_Service_Discovery_V3_DiscoveryRequest] {
        guard let type = ResourceType(typeURL: response.typeURL) else {
            var answer = Envoy_Service_Discovery_V3_DiscoveryRequest()
            answer.typeURL = response.typeURL
            answer.responseNonce = response.nonce
            answer.errorDetail.code = 12  // UNIMPLEMENTED
            answer.errorDetail.message = "type \(response.typeURL) is not one this proxy consumes"
            return [answer]
        }
        lastNonce[type] = response.nonce
        var next: [String: HeldResource] = type.isWildcard ? [:] : held[type] ?? [:]
        var names = Set<String>()
        for (index, body) in response.resources.enumerated() {
            let name: String
            do {
                name = try Self.name(of: body, type: type)
            } catch {
                return [nack(type, "\(type.shortName) version \(response.versionInfo): resources[\(index)]: \(error)")]
            }
            guard names.insert(name).inserted else {
                return [nack(type, "\(type.shortName) response \(response.versionInfo): \(name) appears twice")]
            }
            next[name] = HeldResource(version: response.versionInfo, body: body)
        }
        if let reason = apply(next) { return [nack(type, reason)] }
        held[type] = next
        acceptedVersion[type] = response.versionInfo
        var answers = [request(for: type)]
        if let (dependent, wanted) = HeldResource.dependentNames(after: type, in: held), wanted != subscribed[dependent] ?? [] {
            subscribed[dependent] = wanted
            held[dependent] = held[dependent]?.filter { wanted.contains($0.key) }
            answers.append(request(for: dependent))
        }
        return answers
    }

    /// A request for `type` as things stand: the subscribed names, the version accepted, the
    /// latest nonce (an ACK, or a subscription change the server can place).
    private func request(for type: ResourceType) -> Envoy_Service_Discovery_V3_DiscoveryRequest {
        var request = Envoy_Service_Discovery_V3_DiscoveryRequest()
        request.typeURL = type.typeURL
        request.versionInfo = acceptedVersion[type] ?? ""
        request.responseNonce = lastNonce[type] ?? ""
        if !type.isWildcard { request.resourceNames = (subscribed[type] ?? []).sorted() }
        return request
    }

    private func nack(_ type: ResourceType, _ reason: String) -> Envoy_Service_Discovery_V3_DiscoveryRequest {
        var answer = request(for: type)
        answer.errorDetail.code = 3  // INVALID_ARGUMENT
        answer.errorDetail.message = reason
        return answer
    }

    /// A state-of-the-world resource carries its name inside its body.
    static func name(of body: Google_Protobuf_Any, type: ResourceType) throws -> String {
        guard body.typeURL == type.typeURL else { throw ResourceNameError("is a \(body.typeURL), not a \(type.typeURL)") }
        let name: String
        do {
            switch type {
            case .cluster: name = try Envoy_Config_Cluster_V3_Cluster(unpackingAny: body).name
            case .listener: name = try Envoy_Config_Listener_V3_Listener(unpackingAny: body).name
            case .endpoint: name = try Envoy_Config_Endpoint_V3_ClusterLoadAssignment(unpackingAny: body).clusterName
            case .route: name = try Envoy_Config_Route_V3_RouteConfiguration(unpackingAny: body).name
            }
        } catch {
            throw ResourceNameError("does not decode: \(error)")
        }
        guard !name.isEmpty else { throw ResourceNameError("has no name") }
        return name
    }

    struct ResourceNameError: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }
}
