// SDS for a colocated Envoy: the workload certificate as `default`, the trust bundle as `ROOTCA`.

import EnvoyAPI
import EnvoyServices
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import GRPCCore
import SwiftProtobuf
import Synchronization

/// Envoy's `SecretDiscoveryService` (state of the world) with Istio's secret names, served on the
/// agent's Unix socket. A stream gets the secrets it names as soon as the agent has a certificate,
/// and again after every rotation.
public struct SecretDiscoveryService: Envoy_Service_Secret_V3_SecretDiscoveryService.SimpleServiceProtocol {
    public static let workloadSecret = "default"
    public static let rootSecret = "ROOTCA"
    static let typeURL = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret"

    let store: SecretStore
    let log: @Sendable (String) -> Void

    public init(store: SecretStore, log: @escaping @Sendable (String) -> Void) {
        self.store = store
        self.log = log
    }

    enum Event: Sendable {
        case request(Envoy_Service_Discovery_V3_DiscoveryRequest)
        case rotated
    }

    public func streamSecrets(
        request: RPCAsyncSequence<Envoy_Service_Discovery_V3_DiscoveryRequest, any Error>,
        response: RPCWriter<Envoy_Service_Discovery_V3_DiscoveryResponse>,
        context: ServerContext
    ) async throws {
        let (events, continuation) = AsyncStream.makeStream(of: Event.self)
        let (changes, subscription) = store.changes()
        defer { store.unsubscribe(subscription) }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                defer { continuation.finish() }
                for try await message in request { continuation.yield(.request(message)) }
            }
            group.addTask {
                for await _ in changes { continuation.yield(.rotated) }
            }
            var names: [String] = []
            var sentGeneration = -1
            var nonce = 0
            for await event in events {
                switch event {
                case .request(let message):
                    if message.hasErrorDetail {
                        log("sds: Envoy rejected secrets version \(message.versionInfo): \(message.errorDetail.message)")
                    }
                    // An ACK of what was sent changes nothing; a new name list gets an answer.
                    if message.resourceNames == names && !message.responseNonce.isEmpty { continue }
                    names = message.resourceNames
                    sentGeneration = -1
                case .rotated:
                    break
                }
                let (certificate, generation) = store.current
                guard let certificate, generation != sentGeneration, !names.isEmpty else { continue }
                nonce += 1
                try await response.write(try Self.response(names: names, certificate: certificate, generation: generation, nonce: nonce))
                sentGeneration = generation
            }
            group.cancelAll()
        }
    }

    public func fetchSecrets(request: Envoy_Service_Discovery_V3_DiscoveryRequest, context: ServerContext) async throws -> Envoy_Service_Discovery_V3_DiscoveryResponse {
        let (certificate, generation) = store.current
        guard let certificate else { throw RPCError(code: .unavailable, message: "no certificate yet") }
        return try Self.response(names: request.resourceNames, certificate: certificate, generation: generation, nonce: 0)
    }

    public func deltaSecrets(
        request: RPCAsyncSequence<Envoy_Service_Discovery_V3_DeltaDiscoveryRequest, any Error>,
        response: RPCWriter<Envoy_Service_Discovery_V3_DeltaDiscoveryResponse>,
        context: ServerContext
    ) async throws {
        throw RPCError(code: .unimplemented, message: "this agent serves state-of-the-world SDS (StreamSecrets)")
    }

    static func response(names: [String], certificate: WorkloadCertificate, generation: Int, nonce: Int) throws -> Envoy_Service_Discovery_V3_DiscoveryResponse {
        var response = Envoy_Service_Discovery_V3_DiscoveryResponse()
        response.versionInfo = "\(generation)-\(certificate.serial)"
        response.typeURL = typeURL
        response.nonce = String(nonce)
        for name in names {
            guard let secret = secret(name, certificate) else { continue }
            response.resources.append(try Google_Protobuf_Any(message: secret))
        }
        return response
    }

    static func secret(_ name: String, _ certificate: WorkloadCertificate) -> Envoy_Extensions_TransportSockets_Tls_V3_Secret? {
        var secret = Envoy_Extensions_TransportSockets_Tls_V3_Secret()
        secret.name = name
        switch name {
        case workloadSecret:
            var tls = Envoy_Extensions_TransportSockets_Tls_V3_TlsCertificate()
            tls.certificateChain.inlineBytes = Data(certificate.presentedChainPEM.utf8)
            tls.privateKey.inlineBytes = Data(certificate.keyPEM.utf8)
            secret.tlsCertificate = tls
        case rootSecret:
            var validation = Envoy_Extensions_TransportSockets_Tls_V3_CertificateValidationContext()
            validation.trustedCa.inlineBytes = Data(certificate.rootPEM.utf8)
            secret.validationContext = validation
        default:
            return nil
        }
        return secret
    }
}
