// The mesh CA: a signing key and its chain, which turn a workload's CSR into its certificate.

import _CryptoExtras
import Crypto
import Foundation
import SwiftASN1
import X509

/// Why a CSR is refused. The caller gets `reason`; meshd's log gets it with the caller's identity.
public struct CSRRefusal: Error, CustomStringConvertible, Sendable {
    public var reason: String
    public init(_ reason: String) { self.reason = reason }
    public var description: String { reason }
}

/// Signs workload certificates: SPIFFE URI SAN, client and server EKU, digital signature and key
/// encipherment, the requested TTL (capped), issued by the CA certificate and returned with the
/// full chain up to the root.
public final class CertificateAuthority: Sendable {
    let issuerKey: Certificate.PrivateKey
    let issuer: Certificate
    /// The issuer's chain: the issuer first, the root last (just the root when self-signed).
    let chain: [Certificate]
    public let maximumTTL: Duration

    public init(issuerKey: Certificate.PrivateKey, issuer: Certificate, chain: [Certificate], maximumTTL: Duration = .seconds(7 * 24 * 3600)) {
        self.issuerKey = issuerKey
        self.issuer = issuer
        self.chain = chain
        self.maximumTTL = maximumTTL
    }

    /// The trust bundle: the root certificate, PEM.
    public var rootPEM: String { (try? chain.last!.serializeAsPEM().pemString) ?? "" }

    /// The largest CSR meshd reads (a P-256 CSR is ~500 bytes; RSA 4096 ~1.7 KB).
    public static let maximumCSRBytes = 16 * 1024

    /// Signs `csrPEM` for `identity`, valid for `ttl` (at most `maximumTTL`); returns the PEM chain
    /// leaf first, root last. The CSR must be well formed, correctly self-signed, carry a key
    /// Envoy and BoringSSL handle (ECDSA P-256/P-384, RSA 2048–4096), and ask for `identity`
    /// alone (a CSR that names another identity is refused, not corrected).
    public func sign(csrPEM: String, for identity: SpiffeIdentity, ttl: Duration, now: Date = Date()) async throws(CSRRefusal) -> [String] {
        guard csrPEM.utf8.count <= Self.maximumCSRBytes else {
            throw CSRRefusal("the CSR is \(csrPEM.utf8.count) bytes; at most \(Self.maximumCSRBytes) are accepted")
        }
        let document: PEMDocument
        do {
            document = try PEMDocument(pemString: csrPEM)
        } catch {
            throw CSRRefusal("the CSR is not a PEM-encoded PKCS#10 request (-----BEGIN CERTIFICATE REQUEST-----)")
        }
        let csr: CertificateSigningRequest
        do {
            csr = try CertificateSigningRequest(pemDocument: document)
        } catch {
            throw CSRRefusal("the CSR does not decode as PKCS#10, or its key is none of ECDSA P-256/P-384 and RSA 2048–4096")
        }
        guard csr.publicKey.isValidSignature(csr.signature, for: csr) else {
            throw CSRRefusal("the CSR's signature does not verify with its own key")
        }
        try Self.checkKey(csr.publicKey)
        let requested = try Self.requestedURIs(csr)
        guard requested == [identity.uri] else {
            let asked = requested.isEmpty ? "no identity" : requested.joined(separator: ", ")
            throw CSRRefusal("the CSR asks for \(asked); this caller may only get \(identity.uri)")
        }
        let lifetime = min(ttl, maximumTTL)
        do {
            let extensions = try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true, keyEncipherment: true))
                try ExtendedKeyUsage([.serverAuth, .clientAuth])
                Critical(SubjectAlternativeNames([.uniformResourceIdentifier(identity.uri)]))
                AuthorityKeyIdentifier(keyIdentifier: try? issuer.extensions.subjectKeyIdentifier?.keyIdentifier)
            }
            let seconds = Double(lifetime.components.seconds)
            let leaf = try Certificate(
                version: .v3, serialNumber: Certificate.SerialNumber(),
                publicKey: csr.publicKey,
                // A minute of slack for clocks that differ a little.
                notValidBefore: now.addingTimeInterval(-60), notValidAfter: now.addingTimeInterval(seconds),
                issuer: issuer.subject, subject: try DistinguishedName { OrganizationName(identity.trustDomain) },
                extensions: extensions, issuerPrivateKey: issuerKey)
            return try ([leaf] + chain).map { try $0.serializeAsPEM().pemString }
        } catch {
            throw CSRRefusal("signing failed: \(error)")
        }
    }

    /// A serving certificate for meshd's own TLS ports (the CA port): a fresh P-256 key, the
    /// given DNS names and IP addresses and SPIFFE identity, server and client EKU. Returns the
    /// PEM chain (leaf first) and the PEM key.
    public func issueServing(identity: SpiffeIdentity, dnsNames: [String], ipAddresses: [String], ttl: Duration,
                             now: Date = Date()) throws -> (chain: [String], key: String) {
        let key = P256.Signing.PrivateKey()
        var names: [GeneralName] = [.uniformResourceIdentifier(identity.uri)] + dnsNames.map { .dnsName($0) }
        for address in ipAddresses {
            var bytes = [UInt8](repeating: 0, count: 4)
            if inet_pton(AF_INET, address, &bytes) == 1 { names.append(.ipAddress(ASN1OctetString(contentBytes: bytes[...]))) }
        }
        let extensions = try Certificate.Extensions {
            Critical(BasicConstraints.notCertificateAuthority)
            Critical(KeyUsage(digitalSignature: true, keyEncipherment: true))
            try ExtendedKeyUsage([.serverAuth, .clientAuth])
            SubjectAlternativeNames(names)
        }
        let leaf = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: Certificate.PublicKey(key.publicKey),
            notValidBefore: now.addingTimeInterval(-60), notValidAfter: now.addingTimeInterval(Double(ttl.components.seconds)),
            issuer: issuer.subject, subject: try DistinguishedName { OrganizationName(identity.trustDomain) },
            extensions: extensions, issuerPrivateKey: issuerKey)
        return (try ([leaf] + chain).map { try $0.serializeAsPEM().pemString }, key.pemRepresentation)
    }

    static func checkKey(_ key: Certificate.PublicKey) throws(CSRRefusal) {
        if P256.Signing.PublicKey(key) != nil || P384.Signing.PublicKey(key) != nil { return }
        if let rsa = _RSA.Signing.PublicKey(key) {
            guard (2048...4096).contains(rsa.keySizeInBits) else {
                throw CSRRefusal("RSA keys must have 2048–4096 bits; this one has \(rsa.keySizeInBits)")
            }
            return
        }
        throw CSRRefusal("the CSR's key type is not accepted; use ECDSA P-256 or P-384, or RSA 2048–4096")
    }

    /// The URI SANs the CSR requests.
    static func requestedURIs(_ csr: CertificateSigningRequest) throws(CSRRefusal) -> [String] {
        do {
            guard let request = try csr.attributes.extensionRequest,
                  let names = try request.extensions.subjectAlternativeNames else { return [] }
            return names.compactMap { name in
                if case .uniformResourceIdentifier(let uri) = name { return uri }
                return nil
            }
        } catch {
            throw CSRRefusal("the CSR's requested extensions do not decode")
        }
    }
}
