// Secrets as an SDS stream delivers them: decoded with paths, and parsed as a TLS context would before they are kept.

import EnvoyAPI
import Foundation
@testable import ProxyConfig
@testable import ProxyCore
import Testing

@Suite struct SecretTests {
    static func certificateSecret(_ name: String, chain: String, key: String) -> Envoy_Extensions_TransportSockets_Tls_V3_Secret {
        var secret = Envoy_Extensions_TransportSockets_Tls_V3_Secret()
        secret.name = name
        var tls = Envoy_Extensions_TransportSockets_Tls_V3_TlsCertificate()
        tls.certificateChain.inlineBytes = Data(chain.utf8)
        tls.privateKey.inlineString = key
        secret.tlsCertificate = tls
        return secret
    }

    @Test func istiosTwoSecretsDecodeAndParse() throws {
        let ca = try TestMeshCA()
        let (chain, key) = try ca.issue("spiffe://cluster.local/ns/default/sa/reviews")
        let certificate = try SecretConfig(proto: Self.certificateSecret("default", chain: chain, key: key), at: "secret")
        #expect(certificate == SecretConfig(name: "default", value: .certificate(chainPEM: chain, keyPEM: key)))
        try TLSContexts.check(certificate.value)

        var root = Envoy_Extensions_TransportSockets_Tls_V3_Secret()
        root.name = "ROOTCA"
        root.validationContext.trustedCa.inlineBytes = Data(ca.rootPEM.utf8)
        let bundle = try SecretConfig(proto: root, at: "secret")
        #expect(bundle.value == .trustBundle(ca.rootPEM))
        try TLSContexts.check(bundle.value)
    }

    @Test func whatCannotServeIsRefusedWithItsPath() throws {
        let ca = try TestMeshCA()
        let (chain, key) = try ca.issue("spiffe://cluster.local/ns/default/sa/reviews")
        func refusal(_ secret: Envoy_Extensions_TransportSockets_Tls_V3_Secret) -> String? {
            do {
                _ = try SecretConfig(proto: secret, at: "secret \"default\"")
                return nil
            } catch {
                return "\(error)"
            }
        }
        var fromFile = Self.certificateSecret("default", chain: chain, key: key)
        fromFile.tlsCertificate.privateKey.filename = "/etc/certs/key.pem"
        #expect(refusal(fromFile) == "secret \"default\".tls_certificate.private_key.filename: meshproxy takes secrets inline over SDS, not from files")
        #expect(refusal(Self.certificateSecret("default", chain: "not pem", key: key))
                == "secret \"default\".tls_certificate.certificate_chain: is not PEM with a CERTIFICATE block")
        #expect(refusal(Self.certificateSecret("", chain: chain, key: key)) == "secret \"default\".name: is empty")
        var pinned = Envoy_Extensions_TransportSockets_Tls_V3_Secret()
        pinned.name = "ROOTCA"
        pinned.validationContext.trustedCa.inlineBytes = Data(ca.rootPEM.utf8)
        pinned.validationContext.verifyCertificateSpki = ["NvqYIYSbgK2vCJpQhObf77vv+bQWtc5ek5RIOwPiC9A="]
        #expect(refusal(pinned)?.hasPrefix("secret \"default\".validation_context") == true)
        var empty = Envoy_Extensions_TransportSockets_Tls_V3_Secret()
        empty.name = "default"
        #expect(refusal(empty) == "secret \"default\": has no tls_certificate or validation_context")
    }

    @Test func aKeyThatIsNotTheLeafsIsRefused() throws {
        let ca = try TestMeshCA()
        let (chain, _) = try ca.issue("spiffe://cluster.local/ns/default/sa/reviews")
        let (_, otherKey) = try ca.issue("spiffe://cluster.local/ns/default/sa/ratings")
        #expect(throws: TLSSetupError.self) { try TLSContexts.check(.certificate(chainPEM: chain, keyPEM: otherKey)) }
        // PEM markers but no certificate inside.
        #expect(throws: TLSSetupError.self) {
            try TLSContexts.check(.trustBundle("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"))
        }
    }
}
