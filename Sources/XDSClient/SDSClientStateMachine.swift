// The proxy's side of SDS (state of the world): the secret names it asks for, and how it answers each response.

import EnvoyAPI
import SwiftProtobuf

/// One SDS stream's bookkeeping, as Envoy keeps it toward Istio's agent: a request names every
/// secret the proxy's config refers to; a response carries some of them (the agent sends what it
/// has); the proxy ACKs with the response's version and nonce, or NACKs keeping the last accepted
/// version, with the reason. A change of names is a new request with the full list and the latest
/// nonce. Secrets stay as accepted until a response replaces them: a broken stream or a refused
/// response never takes a certificate away from connections that use it.
public struct SDSClientStateMachine: Sendable {
    public static let typeURL = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret"

    public let node: Envoy_Config_Core_V3_Node
    /// The names asked for.
    public private(set) var names: Set<String> = []
    private var acceptedVersion = ""
    private var lastNonce = ""
    /// Whether this stream has carried a request yet (the first one carries the node).
    private var streamStarted = false

    public init(node: Envoy_Config_Core_V3_Node) {
        self.node = node
    }

    /// What opens a stream (nil while the config names no secret): the names and the version
    /// held, with the node, and no nonce (a new stream's server answers with what it has).
    public mutating func openingRequest() -> Envoy_Service_Discovery_V3_DiscoveryRequest? {
        lastNonce = ""
        streamStarted = false
        return names.isEmpty ? nil : request()
    }

    /// The config now refers to `wanted`; the request to send if that changes what is asked.
    /// Names no longer wanted are simply not asked for again (their secrets stay until unused).
    public mutating func want(_ wanted: Set<String>) -> Envoy_Service_Discovery_V3_DiscoveryRequest? {
        guard wanted != names else { return nil }
        names = wanted
        return wanted.isEmpty ? nil : request()
    }

    /// Checks a response, hands its secrets to `apply` (nil: accepted; else the reason), and
    /// gives the ACK or NACK to send.
    public mutating func receive(
        _ response: Envoy_Service_Discovery_V3_DiscoveryResponse,
        apply: ([String: Envoy_Extensions_TransportSockets_Tls_V3_Secret]) -> String?
    ) -> Envoy_Service_Discovery_V3_DiscoveryRequest {
        lastNonce = response.nonce
        var reason: String?
        do {
            let secrets = try Self.secrets(in: response)
            reason = apply(secrets)
        } catch let error as SDSResponseError {
            reason = error.description
        } catch {
            reason = "\(error)"
        }
        if reason == nil { acceptedVersion = response.versionInfo }
        var answer = request()
        if let reason { answer.errorDetail.message = reason }
        return answer
    }

    /// The secrets a response carries, by name: every resource must be a named Secret, once.
    static func secrets(in response: Envoy_Service_Discovery_V3_DiscoveryResponse) throws
        -> [String: Envoy_Extensions_TransportSockets_Tls_V3_Secret] {
        guard response.typeURL == typeURL else {
            throw SDSResponseError("response type \(response.typeURL) is not \(typeURL)")
        }
        var secrets: [String: Envoy_Extensions_TransportSockets_Tls_V3_Secret] = [:]
        for (index, resource) in response.resources.enumerated() {
            guard resource.typeURL == typeURL else {
                throw SDSResponseError("resources[\(index)]: a \(resource.typeURL), not a Secret")
            }
            let secret: Envoy_Extensions_TransportSockets_Tls_V3_Secret
            do {
                secret = try Envoy_Extensions_TransportSockets_Tls_V3_Secret(unpackingAny: resource)
            } catch {
                throw SDSResponseError("resources[\(index)]: cannot decode the Secret: \(error)")
            }
            guard !secret.name.isEmpty else { throw SDSResponseError("resources[\(index)].name: is empty") }
            guard secrets.updateValue(secret, forKey: secret.name) == nil else {
                throw SDSResponseError("resources[\(index)].name: \"\(secret.name)\" comes twice")
            }
        }
        return secrets
    }

    private mutating func request() -> Envoy_Service_Discovery_V3_DiscoveryRequest {
        var request = Envoy_Service_Discovery_V3_DiscoveryRequest()
        if !streamStarted { request.node = node }
        streamStarted = true
        request.typeURL = Self.typeURL
        request.resourceNames = names.sorted()
        request.versionInfo = acceptedVersion
        request.responseNonce = lastNonce
        return request
    }
}

struct SDSResponseError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
