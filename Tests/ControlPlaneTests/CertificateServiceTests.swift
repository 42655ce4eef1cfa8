// Istio's CSR API over real gRPC and TLS: the agent's client against meshd's service.

import ControlPlane
import Crypto
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import IdentityAgent
import MeshAPI
import MeshCA
import MeshModel
import Testing
import X509

@Suite struct CertificateServiceTests {
    static let registry = """
        apiVersion: networking.istio.io/v1
        kind: WorkloadEntry
        metadata: {name: reviews-v1, namespace: default}
        spec: {address: 127.0.9.1, serviceAccount: bookinfo-reviews}
        """

    /// A CA service on an ephemeral port; `body` gets its port, the root and the token of reviews-v1.
    static func withService(_ body: (Int, String, String) async throws -> Void) async throws {
        let data = FileManager.default.temporaryDirectory.appendingPathComponent("ca-service-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: data) }
        let report = ValidationReport.validate([ConfigInput(file: "r.yaml", data: Data(registry.utf8))])
        let snapshot = MeshSnapshot.empty().next(report)
        let authority = try await CAStore.selfSigned(directory: data + "/ca", trustDomain: "cluster.local")
        let tokens = WorkloadTokens(dataDirectory: data)
        tokens.update(snapshot.registry)
        let token = try String(contentsOfFile: data + "/tokens/default/reviews-v1", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        let serving = try authority.issueServing(identity: SpiffeIdentity(trustDomain: "cluster.local", namespace: "istio-system", serviceAccount: "meshd"),
                                                 dnsNames: ["meshd.istio-system.svc"], ipAddresses: ["127.0.0.1"], ttl: .seconds(3600))
        let service = CertificateService(authority: authority, tokens: tokens, defaultTTL: .seconds(3600), counters: CertificateCounters(),
                                         snapshot: { snapshot }, log: { _ in })
        let server = GRPCServer(
            transport: HTTP2ServerTransport.Posix(
                address: .ipv4(host: "127.0.0.1", port: 0),
                transportSecurity: .tls(certificateChain: serving.chain.map { .bytes(Array($0.utf8), format: .pem) },
                                        privateKey: .bytes(Array(serving.key.utf8), format: .pem))),
            services: [service])
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await server.serve() }
            guard let address = try await server.listeningAddress?.ipv4 else { throw CancellationError() }
            try await body(address.port, authority.rootPEM, token)
            server.beginGracefulShutdown()
            try await group.waitForAll()
        }
    }

    @Test func theWorkloadGetsItsOwnIdentityOnly() async throws {
        try await Self.withService { port, root, token in
            let client = CAClient(host: "127.0.0.1", port: port, rootPEM: root, token: token)
            let issued = try await client.issue(identityURI: "spiffe://cluster.local/ns/default/sa/bookinfo-reviews", ttl: .seconds(600))
            let leaf = try Certificate(pemEncoded: issued.chainPEM[0])
            #expect(try leaf.extensions.subjectAlternativeNames?.contains(.uniformResourceIdentifier("spiffe://cluster.local/ns/default/sa/bookinfo-reviews")) == true)
            #expect(abs(issued.notAfter.timeIntervalSinceNow - 600) < 5)

            await #expect { _ = try await client.issue(identityURI: "spiffe://cluster.local/ns/default/sa/admin", ttl: .seconds(600)) } throws: {
                "\($0)".contains("may only get spiffe://cluster.local/ns/default/sa/bookinfo-reviews")
            }
        }
    }

    @Test func wrongOrMissingTokensAreRefusedTersely() async throws {
        try await Self.withService { port, root, _ in
            for token in ["wrong-token", ""] {
                let client = CAClient(host: "127.0.0.1", port: port, rootPEM: root, token: token)
                await #expect { _ = try await client.issue(identityURI: "spiffe://cluster.local/ns/default/sa/bookinfo-reviews", ttl: .seconds(60)) } throws: { error in
                    let text = "\(error)"
                    return text.contains("unauthenticated") && !text.contains("WorkloadEntry")  // no detail for the caller
                }
            }
        }
    }

    @Test func aClientThatDoesNotTrustTheMeshRootDoesNotConnect() async throws {
        try await Self.withService { port, _, token in
            let otherRoot = try await CAStore.selfSigned(directory: FileManager.default.temporaryDirectory.appendingPathComponent("other-\(UUID().uuidString)").path,
                                                         trustDomain: "other.example")
            let client = CAClient(host: "127.0.0.1", port: port, rootPEM: otherRoot.rootPEM, token: token)
            await #expect(throws: (any Error).self) { _ = try await client.issue(identityURI: "spiffe://cluster.local/ns/default/sa/bookinfo-reviews", ttl: .seconds(60)) }
        }
    }
}
