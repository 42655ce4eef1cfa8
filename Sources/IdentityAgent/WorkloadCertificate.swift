// The workload's key and the certificate chain the CA issued for it.

import Crypto
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import X509

/// What the agent holds and serves: a private key made on the workload's side (it never leaves
/// the agent) and the chain the CA returned for it.
public struct WorkloadCertificate: Sendable {
    public var keyPEM: String
    /// Leaf first, root last, PEM.
    public var chainPEM: [String]
    public var notBefore: Date
    public var notAfter: Date
    public var serial: String
    /// When the agent received it.
    public var received = Date()

    /// When to renew: at 80% of the lifetime, as Istio's agent does, counted from receipt: the
    /// CA backdates `notBefore` for clock skew, which would make short certificates renew early.
    public var renewAt: Date { received.addingTimeInterval(notAfter.timeIntervalSince(received) * 0.8) }

    /// The chain Envoy presents: the leaf and any intermediates, not the root.
    public var presentedChainPEM: String { (chainPEM.count > 1 ? chainPEM.dropLast() : chainPEM[...]).joined() }
    public var rootPEM: String { chainPEM.last ?? "" }
}

/// A new key and a CSR asking for `identityURI`.
func makeRequest(identityURI: String) throws -> (key: P256.Signing.PrivateKey, csrPEM: String) {
    let key = P256.Signing.PrivateKey()
    let privateKey = Certificate.PrivateKey(key)
    let extensions = try Certificate.Extensions {
        SubjectAlternativeNames([.uniformResourceIdentifier(identityURI)])
    }
    let csr = try CertificateSigningRequest(
        version: .v1, subject: DistinguishedName {}, privateKey: privateKey,
        attributes: CertificateSigningRequest.Attributes([.init(ExtensionRequest(extensions: extensions))]),
        signatureAlgorithm: .ecdsaWithSHA256)
    return (key, try csr.serializeAsPEM().pemString)
}
