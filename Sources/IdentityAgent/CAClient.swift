// The agent's side of Istio's CSR API.

import EnvoyAPI
import EnvoyServices
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import GRPCCore
import GRPCNIOTransportHTTP2
import X509

/// Sends a CSR with the workload's token to meshd's CA over TLS (trusting the mesh root only).
public struct CAClient: Sendable {
    public var host: String
    public var port: Int
    public var rootPEM: String
    public var token: String
    /// The name in meshd's serving certificate the connection checks.
    public var serverName = "meshd.istio-system.svc"

    public init(host: String, port: Int, rootPEM: String, token: String) {
        self.host = host
        self.port = port
        self.rootPEM = rootPEM
        self.token = token
    }

    public struct Refused: Error, CustomStringConvertible {
        public var description: String
    }

    /// A fresh key and a certificate for `identityURI`, valid for `ttl` (the CA may cap it).
    public func issue(identityURI: String, ttl: Duration) async throws -> WorkloadCertificate {
        let (key, csr) = try makeRequest(identityURI: identityURI)
        var request = Istio_V1_Auth_IstioCertificateRequest()
        request.csr = csr
        request.validityDuration = ttl.components.seconds
        let serverName = self.serverName
        let transport = try HTTP2ClientTransport.Posix(
            target: .ipv4(address: host, port: port),
            transportSecurity: .tls { config in
                config.trustRoots = .certificates([.bytes(Array(rootPEM.utf8), format: .pem)])
            },
            // The authority is also the name the server's certificate is checked against (SNI).
            config: .defaults { $0.http2.authority = serverName })
        let chain: [String] = try await withGRPCClient(transport: transport) { client in
            let ca = Istio_V1_Auth_IstioCertificateService.Client(wrapping: client)
            do {
                return try await ca.createCertificate(request, metadata: ["authorization": "Bearer \(token)"]).certChain
            } catch let error as RPCError {
                throw Refused(description: "the CA at \(host):\(port) refused: \(error.message) (\(error.code))")
            }
        }
        guard let first = chain.first, let leaf = try? Certificate(pemEncoded: first) else {
            throw Refused(description: "the CA at \(host):\(port) answered without a certificate")
        }
        guard leaf.publicKey == Certificate.PublicKey(key.publicKey) else {
            throw Refused(description: "the CA's certificate is not for the key this agent sent")
        }
        return WorkloadCertificate(keyPEM: key.pemRepresentation, chainPEM: chain, notBefore: leaf.notValidBefore,
                                   notAfter: leaf.notValidAfter, serial: leaf.serialNumber.description)
    }
}
