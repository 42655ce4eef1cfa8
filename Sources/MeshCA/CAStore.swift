// Where the CA's keys come from: a self-signed root kept in meshd's data directory, or an
// organisation's intermediate in Istio's cacerts layout.

import _CryptoExtras
import Crypto
import Foundation
import SwiftASN1
import X509

public enum CAKeyType: String, Sendable, CaseIterable {
    case ecdsaP256 = "ec-p256"
    case rsa2048 = "rsa-2048"
    case rsa4096 = "rsa-4096"
}

public struct CASetupError: Error, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}

public enum CAStore {
    /// The root in `directory` (`root-cert.pem`, `root-key.pem`), created on first start and reused
    /// after: certificates issued before a restart keep verifying. The key file is 0600.
    public static func selfSigned(directory: String, keyType: CAKeyType = .ecdsaP256, trustDomain: String,
                                  now: Date = Date()) async throws -> CertificateAuthority {
        let certPath = (directory as NSString).appendingPathComponent("root-cert.pem")
        let keyPath = (directory as NSString).appendingPathComponent("root-key.pem")
        if FileManager.default.fileExists(atPath: certPath) || FileManager.default.fileExists(atPath: keyPath) {
            let certificate = try readCertificates(certPath)
            guard certificate.count == 1 else { throw CASetupError("\(certPath) must hold exactly the root certificate") }
            let key = try readKey(keyPath)
            guard key.publicKey == certificate[0].publicKey else { throw CASetupError("\(keyPath) is not the key of \(certPath)") }
            return CertificateAuthority(issuerKey: key, issuer: certificate[0], chain: certificate)
        }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let key: Certificate.PrivateKey
        switch keyType {
        case .ecdsaP256: key = Certificate.PrivateKey(P256.Signing.PrivateKey())
        case .rsa2048: key = Certificate.PrivateKey(try _RSA.Signing.PrivateKey(keySize: .bits2048))
        case .rsa4096: key = Certificate.PrivateKey(try _RSA.Signing.PrivateKey(keySize: .bits4096))
        }
        let name = try DistinguishedName {
            OrganizationName(trustDomain)
            CommonName("SwiftMesh root CA")
        }
        let extensions = try Certificate.Extensions {
            Critical(BasicConstraints.isCertificateAuthority(maxPathLength: nil))
            Critical(KeyUsage(digitalSignature: true, keyCertSign: true, cRLSign: true))
            SubjectKeyIdentifier(hash: key.publicKey)
        }
        let root = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: key.publicKey,
            notValidBefore: now.addingTimeInterval(-60), notValidAfter: now.addingTimeInterval(10 * 365 * 24 * 3600),
            issuer: name, subject: name, extensions: extensions, issuerPrivateKey: key)
        try write(try key.serializeAsPEM().pemString, to: keyPath, permissions: 0o600)
        try write(try root.serializeAsPEM().pemString, to: certPath, permissions: 0o644)
        return CertificateAuthority(issuerKey: key, issuer: root, chain: [root])
    }

    /// Istio's plug-in CA layout: `ca-cert.pem` and `ca-key.pem` sign; `cert-chain.pem` is the
    /// chain from `ca-cert.pem` up (Istio's convention includes ca-cert itself); `root-cert.pem`
    /// is the trust anchor. The pieces must fit: the key is ca-cert's, the chain ends at the root.
    public static func plugIn(directory: String) throws -> CertificateAuthority {
        let path = { (name: String) in (directory as NSString).appendingPathComponent(name) }
        let caCert = try readCertificates(path("ca-cert.pem"))
        let key = try readKey(path("ca-key.pem"))
        let root = try readCertificates(path("root-cert.pem"))
        var chain = try readCertificates(path("cert-chain.pem"))
        guard let issuer = caCert.first else { throw CASetupError("\(path("ca-cert.pem")) holds no certificate") }
        guard key.publicKey == issuer.publicKey else { throw CASetupError("\(path("ca-key.pem")) is not the key of \(path("ca-cert.pem"))") }
        guard let anchor = root.first else { throw CASetupError("\(path("root-cert.pem")) holds no certificate") }
        if chain.first != issuer { chain.insert(issuer, at: 0) }
        if chain.last != anchor { chain.append(anchor) }
        guard case .isCertificateAuthority? = try? issuer.extensions.basicConstraints else {
            throw CASetupError("\(path("ca-cert.pem")) is not a CA certificate (basicConstraints CA:TRUE is needed)")
        }
        return CertificateAuthority(issuerKey: key, issuer: issuer, chain: chain)
    }

    static func readCertificates(_ path: String) throws -> [Certificate] {
        guard let data = FileManager.default.contents(atPath: path) else { throw CASetupError("\(path): cannot read it") }
        do {
            return try PEMDocument.parseMultiple(pemString: String(decoding: data, as: UTF8.self)).map { try Certificate(pemDocument: $0) }
        } catch {
            throw CASetupError("\(path): not PEM certificates (\(error))")
        }
    }

    static func readKey(_ path: String) throws -> Certificate.PrivateKey {
        guard let data = FileManager.default.contents(atPath: path) else { throw CASetupError("\(path): cannot read it") }
        do {
            return try Certificate.PrivateKey(pemEncoded: String(decoding: data, as: UTF8.self))
        } catch {
            throw CASetupError("\(path): not a PEM private key (PKCS#8, SEC1 or PKCS#1) (\(error))")
        }
    }

    /// Created with its permissions, so a key is never readable by others, even briefly.
    static func write(_ text: String, to path: String, permissions: Int) throws {
        guard FileManager.default.createFile(atPath: path, contents: Data(text.utf8), attributes: [.posixPermissions: permissions]) else {
            throw CASetupError("\(path): cannot write it")
        }
    }
}
