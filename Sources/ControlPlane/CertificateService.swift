// Istio's CSR API on meshd's CA port: a workload trades its token and a CSR for a certificate.

import EnvoyAPI
import EnvoyServices
import Foundation
import GRPCCore
import MeshAPI
import MeshCA
import MeshModel
import Synchronization

/// `istio.v1.auth.IstioCertificateService/CreateCertificate`. The caller authenticates with
/// `authorization: Bearer <token>` (its WorkloadEntry's bootstrap token); it gets a certificate
/// for that workload's identity only. Refusals are terse for the caller and complete in meshd's
/// log, and counted.
public struct CertificateService: Istio_V1_Auth_IstioCertificateService.ServiceProtocol {
    let authority: CertificateAuthority
    let tokens: WorkloadTokens
    let snapshot: @Sendable () async -> MeshSnapshot
    let defaultTTL: Duration
    let counters: CertificateCounters
    let log: @Sendable (String) -> Void

    public init(authority: CertificateAuthority, tokens: WorkloadTokens, defaultTTL: Duration, counters: CertificateCounters,
                snapshot: @escaping @Sendable () async -> MeshSnapshot, log: @escaping @Sendable (String) -> Void) {
        self.authority = authority
        self.tokens = tokens
        self.defaultTTL = defaultTTL
        self.counters = counters
        self.snapshot = snapshot
        self.log = log
    }

    public func createCertificate(
        request: ServerRequest<Istio_V1_Auth_IstioCertificateRequest>, context: ServerContext
    ) async throws -> ServerResponse<Istio_V1_Auth_IstioCertificateResponse> {
        let peer = context.remotePeer
        func refuse(_ code: RPCError.Code, _ terse: String, _ detail: String) -> ServerResponse<Istio_V1_Auth_IstioCertificateResponse> {
            counters.refused()
            log("ca: refused a certificate to \(peer): \(detail)")
            return ServerResponse(error: RPCError(code: code, message: terse))
        }
        guard let header = request.metadata[stringValues: "authorization"].first(where: { _ in true }),
              header.hasPrefix("Bearer "), case let token = String(header.dropFirst("Bearer ".count)), !token.isEmpty else {
            return refuse(.unauthenticated, "no credentials", "no `authorization: Bearer <token>` header")
        }
        guard let workload = tokens.owner(of: token) else {
            return refuse(.unauthenticated, "unknown credentials", "the token matches no WorkloadEntry")
        }
        let snapshot = await snapshot()
        guard let entry = snapshot.registry.workloads.first(where: { $0.namespace == workload.namespace && $0.name == workload.name }) else {
            return refuse(.permissionDenied, "unknown workload", "\(workload) is gone from the registry")
        }
        let identity = SpiffeIdentity(trustDomain: snapshot.meshConfig.trustDomain ?? "cluster.local",
                                      namespace: entry.namespace, serviceAccount: entry.serviceAccount)
        let requested = request.message.validityDuration > 0 ? Duration.seconds(request.message.validityDuration) : defaultTTL
        do {
            var response = Istio_V1_Auth_IstioCertificateResponse()
            response.certChain = try await authority.sign(csrPEM: request.message.csr, for: identity, ttl: requested)
            counters.issued()
            log("ca: issued \(identity) to \(workload) for \(requested.components.seconds) s")
            return ServerResponse(message: response)
        } catch {
            return refuse(.invalidArgument, error.reason, "\(workload) (\(identity)): \(error.reason)")
        }
    }
}

/// How many certificates meshd issued and refused (for its log and debug API).
public final class CertificateCounters: Sendable {
    private let counts = Mutex((issued: 0, refused: 0))
    public init() {}
    func issued() { counts.withLock { $0.issued += 1 } }
    func refused() { counts.withLock { $0.refused += 1 } }
    public var current: (issued: Int, refused: Int) { counts.withLock { $0 } }
}
