// The mesh CA against openssl: chains verify, certificates carry the SPIFFE identity, bad CSRs
// are refused, the root survives a restart, a plug-in intermediate signs.

import _CryptoExtras
import Crypto
import Foundation
@testable import MeshCA
import Testing
import X509

@Suite struct CertificateAuthorityTests {
    static let identity = SpiffeIdentity(trustDomain: "cluster.local", namespace: "default", serviceAccount: "bookinfo-reviews")

    final class Scratch {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("meshca-\(UUID().uuidString)").path
        init() throws { try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) }
        deinit { try? FileManager.default.removeItem(atPath: path) }
        func file(_ name: String, _ text: String) throws -> String {
            let file = (path as NSString).appendingPathComponent(name)
            try text.write(toFile: file, atomically: true, encoding: .utf8)
            return file
        }
    }

    static func csr(for uri: String?, key: Certificate.PrivateKey = Certificate.PrivateKey(P256.Signing.PrivateKey())) throws -> String {
        let extensions = try Certificate.Extensions {
            if let uri { SubjectAlternativeNames([.uniformResourceIdentifier(uri)]) }
        }
        let request = try CertificateSigningRequest(
            version: .v1, subject: DistinguishedName { OrganizationName("cluster.local") }, privateKey: key,
            attributes: CertificateSigningRequest.Attributes([.init(ExtensionRequest(extensions: extensions))]),
            signatureAlgorithm: Self.algorithm(key))
        return try request.serializeAsPEM().pemString
    }

    static func algorithm(_ key: Certificate.PrivateKey) -> Certificate.SignatureAlgorithm {
        switch key.publicKey {
        case _ where P256.Signing.PublicKey(key.publicKey) != nil: return .ecdsaWithSHA256
        case _ where _RSA.Signing.PublicKey(key.publicKey) != nil: return .sha256WithRSAEncryption
        default: return .ed25519
        }
    }

    @discardableResult
    static func openssl(_ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    @Test func issuedChainVerifiesAndCarriesTheIdentity() async throws {
        let scratch = try Scratch()
        let ca = try await CAStore.selfSigned(directory: scratch.path + "/ca", trustDomain: "cluster.local")
        let chain = try await ca.sign(csrPEM: try Self.csr(for: Self.identity.uri), for: Self.identity, ttl: .seconds(3600))
        #expect(chain.count == 2, "leaf and root")
        let root = try scratch.file("root.pem", ca.rootPEM)
        let leaf = try scratch.file("leaf.pem", chain[0])
        let verified = try Self.openssl(["verify", "-CAfile", root, leaf])
        #expect(verified.status == 0, "\(verified.output)")
        let text = try Self.openssl(["x509", "-in", leaf, "-noout", "-text"]).output
        #expect(text.contains("URI:spiffe://cluster.local/ns/default/sa/bookinfo-reviews"))
        #expect(text.contains("TLS Web Server Authentication, TLS Web Client Authentication"))
        #expect(text.contains("CA:FALSE"))
        let dates = try Self.openssl(["x509", "-in", leaf, "-noout", "-startdate", "-enddate"]).output
        #expect(dates.contains("notAfter="), "\(dates)")
        let certificate = try Certificate(pemEncoded: chain[0])
        let lifetime = certificate.notValidAfter.timeIntervalSince(certificate.notValidBefore)
        #expect(abs(lifetime - 3660) < 2, "the TTL asked for, plus a minute of clock slack before")
    }

    @Test func theRootIsKeptAcrossRestartsWithItsKeyPrivate() async throws {
        let scratch = try Scratch()
        let first = try await CAStore.selfSigned(directory: scratch.path + "/ca", trustDomain: "cluster.local")
        let chain = try await first.sign(csrPEM: try Self.csr(for: Self.identity.uri), for: Self.identity, ttl: .seconds(600))
        let again = try await CAStore.selfSigned(directory: scratch.path + "/ca", trustDomain: "cluster.local")
        #expect(again.rootPEM == first.rootPEM)
        let root = try scratch.file("root.pem", again.rootPEM)
        #expect(try Self.openssl(["verify", "-CAfile", root, try scratch.file("old.pem", chain[0])]).status == 0, "an old certificate still verifies")
        let attributes = try FileManager.default.attributesOfItem(atPath: scratch.path + "/ca/root-key.pem")
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
    }

    @Test func rsaRootsWork() async throws {
        let scratch = try Scratch()
        let ca = try await CAStore.selfSigned(directory: scratch.path + "/ca", keyType: .rsa2048, trustDomain: "example.org")
        let identity = SpiffeIdentity(trustDomain: "example.org", namespace: "shop", serviceAccount: "cart")
        let chain = try await ca.sign(csrPEM: try Self.csr(for: identity.uri), for: identity, ttl: .seconds(60))
        #expect(try Self.openssl(["verify", "-CAfile", try scratch.file("root.pem", ca.rootPEM), try scratch.file("leaf.pem", chain[0])]).status == 0)
    }

    @Test func badRequestsAreRefusedWithAReason() async throws {
        let scratch = try Scratch()
        let ca = try await CAStore.selfSigned(directory: scratch.path + "/ca", trustDomain: "cluster.local")
        let cases: [(String, String)] = [
            (try Self.csr(for: "spiffe://cluster.local/ns/default/sa/admin"), "may only get spiffe://cluster.local/ns/default/sa/bookinfo-reviews"),
            (try Self.csr(for: nil), "asks for no identity"),
            ("-----BEGIN CERTIFICATE REQUEST-----\nnot base64 at all\n-----END CERTIFICATE REQUEST-----\n", "PKCS#10"),
            ("-----BEGIN CERTIFICATE REQUEST-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA\n-----END CERTIFICATE REQUEST-----\n", "does not decode as PKCS#10"),
            ("hello", "not a PEM-encoded PKCS#10"),
            (String(repeating: "A", count: 20000), "at most 16384"),
            (try Self.csr(for: Self.identity.uri, key: Certificate.PrivateKey(Curve25519.Signing.PrivateKey())), "key type is not accepted"),
            (try Self.csr(for: Self.identity.uri, key: Certificate.PrivateKey(try _RSA.Signing.PrivateKey(unsafeKeySize: .init(bitCount: 1024)))), "RSA 2048–4096"),
        ]
        for (csr, reason) in cases {
            do {
                _ = try await ca.sign(csrPEM: csr, for: Self.identity, ttl: .seconds(60))
                Issue.record("signed a CSR that should be refused (\(reason))")
            } catch {
                #expect(error.reason.contains(reason), "\(error.reason)")
            }
        }
        // A CSR whose signature does not match its key: another key's signature spliced in.
        let good = try CertificateSigningRequest(pemEncoded: try Self.csr(for: Self.identity.uri))
        let other = try CertificateSigningRequest(pemEncoded: try Self.csr(for: Self.identity.uri))
        let forged = try CertificateSigningRequest(version: good.version, subject: good.subject, publicKey: good.publicKey,
                                               attributes: good.attributes, signatureAlgorithm: good.signatureAlgorithm, signature: other.signature)
        await #expect(throws: CSRRefusal.self) { _ = try await ca.sign(csrPEM: try forged.serializeAsPEM().pemString, for: Self.identity, ttl: .seconds(60)) }
    }

    @Test func aPlugInIntermediateSignsAndTheChainReachesTheOrganisationsRoot() async throws {
        let scratch = try Scratch()
        // The organisation's PKI, made with openssl: a root and an intermediate for the mesh.
        let dir = scratch.path
        for command in [
            ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "\(dir)/org-root-key.pem",
             "-out", "\(dir)/root-cert.pem", "-days", "30", "-subj", "/O=Example Org/CN=Example Root"],
            ["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "\(dir)/ca-key.pem",
             "-out", "\(dir)/ca.csr", "-subj", "/O=Example Org/CN=Mesh Intermediate"],
        ] { #expect(try Self.openssl(command).status == 0) }
        let extensions = try scratch.file("ca.ext", "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign,digitalSignature\n")
        let signed = try Self.openssl(["x509", "-req", "-in", "\(dir)/ca.csr", "-CA", "\(dir)/root-cert.pem", "-CAkey", "\(dir)/org-root-key.pem",
                                       "-CAcreateserial", "-out", "\(dir)/ca-cert.pem", "-days", "30", "-extfile", extensions])
        #expect(signed.status == 0, "\(signed.output)")
        let caCert = try String(contentsOfFile: "\(dir)/ca-cert.pem", encoding: .utf8)
        let rootCert = try String(contentsOfFile: "\(dir)/root-cert.pem", encoding: .utf8)
        _ = try scratch.file("cert-chain.pem", caCert + rootCert)

        let ca = try CAStore.plugIn(directory: dir)
        let chain = try await ca.sign(csrPEM: try Self.csr(for: Self.identity.uri), for: Self.identity, ttl: .seconds(600))
        #expect(chain.count == 3, "leaf, intermediate, root")
        let leaf = try scratch.file("leaf.pem", chain[0])
        let intermediates = try scratch.file("intermediates.pem", chain[1])
        let verified = try Self.openssl(["verify", "-CAfile", "\(dir)/root-cert.pem", "-untrusted", intermediates, leaf])
        #expect(verified.status == 0, "\(verified.output)")
        #expect(try Self.openssl(["x509", "-in", leaf, "-noout", "-issuer"]).output.contains("Mesh Intermediate"))
    }

    @Test func aPlugInWithTheWrongKeyIsRejected() throws {
        let scratch = try Scratch()
        let dir = scratch.path
        for name in ["root", "ca", "other"] {
            #expect(try Self.openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "\(dir)/\(name)-key.pem",
                                      "-out", "\(dir)/\(name)-cert.pem", "-days", "1", "-subj", "/CN=\(name)"]).status == 0)
        }
        try FileManager.default.copyItem(atPath: "\(dir)/ca-cert.pem", toPath: "\(dir)/cert-chain.pem")
        try FileManager.default.removeItem(atPath: "\(dir)/ca-key.pem")
        try FileManager.default.copyItem(atPath: "\(dir)/other-key.pem", toPath: "\(dir)/ca-key.pem")
        #expect { try CAStore.plugIn(directory: dir) } throws: { "\($0)".contains("is not the key of") }
    }
}
