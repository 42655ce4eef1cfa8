// The identity agent (Istio's pilot-agent role): key, CSR, rotation, and SDS on a Unix socket.

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import GRPCCore
import GRPCNIOTransportHTTP2

/// Gets the workload's first certificate, serves it over SDS, and renews it at 80% of its
/// lifetime (retrying with backoff while the current one is still valid). The private key is
/// made here and leaves only over the local Unix socket, to the workload's own Envoy.
public struct IdentityAgent: Sendable {
    public var ca: CAClient
    public var identityURI: String
    public var ttl: Duration
    public var log: @Sendable (String) -> Void

    public init(ca: CAClient, identityURI: String, ttl: Duration, log: @escaping @Sendable (String) -> Void) {
        self.ca = ca
        self.identityURI = identityURI
        self.ttl = ttl
        self.log = log
    }

    /// `meshproxy agent`: rotation, and SDS on `sdsSocket` for a colocated Envoy.
    public func serve(sdsSocket: String) async throws {
        let store = SecretStore()
        try? FileManager.default.removeItem(atPath: sdsSocket)
        let server = GRPCServer(
            transport: HTTP2ServerTransport.Posix(address: .unixDomainSocket(path: sdsSocket), transportSecurity: .plaintext),
            services: [SecretDiscoveryService(store: store, log: log)])
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await server.serve() }
            group.addTask { try await rotate { store.publish($0) } }
            defer {
                server.beginGracefulShutdown()
                try? FileManager.default.removeItem(atPath: sdsSocket)
            }
            try await group.next()
        }
    }

    /// Gets a certificate, hands it to `publish`, and renews it at 80% of its lifetime, until
    /// cancelled. meshproxy runs this in-process (its embedded agent); `run()` serves it over SDS.
    public func rotate(publish: @Sendable (WorkloadCertificate) -> Void) async throws {
        var backoff: Duration = .seconds(1)
        var expiry: Date?
        while !Task.isCancelled {
            do {
                let certificate = try await ca.issue(identityURI: identityURI, ttl: ttl)
                publish(certificate)
                expiry = certificate.notAfter
                log("agent: certificate \(certificate.serial) for \(identityURI), valid until \(certificate.notAfter), renewing at \(certificate.renewAt)")
                backoff = .seconds(1)
                let wait = max(1, certificate.renewAt.timeIntervalSinceNow)
                try await Task.sleep(for: .milliseconds(Int64(wait * 1000)))
            } catch is CancellationError {
                return
            } catch {
                log("agent: \(error); retrying in \(backoff)\(expiry.map { " (the current certificate is valid until \($0))" } ?? "")")
                try await Task.sleep(for: backoff)
                backoff = min(backoff * 2, .seconds(30))
            }
        }
    }
}
