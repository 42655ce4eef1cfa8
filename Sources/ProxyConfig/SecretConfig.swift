// A secret as SDS delivers it (Envoy's `Secret`): a certificate with its key, or a trust bundle.

import EnvoyAPI
import SwiftProtobuf

/// One SDS secret, checked: Istio's agent sends the workload certificate (`default`) as a
/// `tls_certificate` and the trust bundle (`ROOTCA`) as a `validation_context`, both inline PEM.
/// Anything that would change how the secret is used and that meshproxy does not do (file
/// sources it would have to watch, SPKI pins, a private key provider) is refused by path, so
/// the SDS stream NACKs it instead of serving with half a secret.
public struct SecretConfig: Sendable, Equatable {
    public enum Value: Sendable, Equatable {
        /// PEM: the chain (leaf first) and its private key.
        case certificate(chainPEM: String, keyPEM: String)
        /// PEM: the CA certificates peers' chains must lead to.
        case trustBundle(String)
    }

    public var name: String
    public var value: Value

    public init(name: String, value: Value) {
        self.name = name
        self.value = value
    }

    public init(proto: Envoy_Extensions_TransportSockets_Tls_V3_Secret, at path: String) throws {
        guard !proto.name.isEmpty else { throw ProxyConfigError(path + ".name", "is empty") }
        name = proto.name
        switch proto.type {
        case .tlsCertificate(let certificate)?:
            let at = path + ".tls_certificate"
            let chain = try Self.pem(certificate.certificateChain, at: at + ".certificate_chain", marker: "CERTIFICATE")
            let key = try Self.pem(certificate.privateKey, at: at + ".private_key", marker: "PRIVATE KEY")
            var rest = certificate
            rest.clearCertificateChain()
            rest.clearPrivateKey()
            try requireNothingElse(rest, at: at)
            value = .certificate(chainPEM: chain, keyPEM: key)
        case .validationContext(let context)?:
            let at = path + ".validation_context"
            let bundle = try Self.pem(context.trustedCa, at: at + ".trusted_ca", marker: "CERTIFICATE")
            var rest = context
            rest.clearTrustedCa()
            try requireNothingElse(rest, at: at)
            value = .trustBundle(bundle)
        case .sessionTicketKeys?:
            throw ProxyConfigError(path + ".session_ticket_keys", "is not supported by meshproxy (no TLS session tickets)")
        case .genericSecret?:
            throw ProxyConfigError(path + ".generic_secret", "is not supported by meshproxy (no filter reads one)")
        case nil:
            throw ProxyConfigError(path, "has no tls_certificate or validation_context")
        }
    }

    /// Inline PEM text with at least one block of `marker` (the TLS layer parses it fully when it
    /// builds a context; this catches a secret that is plainly not what its field says).
    static func pem(_ source: Envoy_Config_Core_V3_DataSource, at path: String, marker: String) throws -> String {
        let text: String
        switch source.specifier {
        case .inlineBytes(let bytes)?: text = String(decoding: bytes, as: UTF8.self)
        case .inlineString(let string)?: text = string
        case .filename?:
            throw ProxyConfigError(path + ".filename", "meshproxy takes secrets inline over SDS, not from files")
        case .environmentVariable?:
            throw ProxyConfigError(path + ".environment_variable", "meshproxy takes secrets inline over SDS, not from the environment")
        case nil:
            throw ProxyConfigError(path, "is empty")
        }
        guard text.contains("-----BEGIN "), text.contains(" \(marker)-----") else {
            throw ProxyConfigError(path, "is not PEM with a \(marker) block")
        }
        return text
    }
}
