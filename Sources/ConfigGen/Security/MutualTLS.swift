// Envoy's TLS contexts for the mesh: workload certificates from SDS, peers checked by SPIFFE ID.

import EnvoyAPI
import Foundation
import MeshAPI
import SwiftProtobuf

/// Istio's mTLS as Envoy configuration. Certificates come over SDS from the workload's agent
/// (`default`: the workload's certificate and key; `ROOTCA`: the trust bundle), through the
/// bootstrap's `sds-grpc` cluster, so no key ever travels over xDS.
enum MutualTLS {
    /// The bootstrap's cluster to the agent's Unix socket.
    static let sdsCluster = "sds-grpc"
    static let workloadSecret = "default"
    static let rootSecret = "ROOTCA"
    /// Endpoint metadata key Envoy's transport socket matching reads.
    static let socketMatchKey = "envoy.transport_socket_match"
    /// The label Istio's sidecar injection puts on workloads that can speak mTLS.
    static let tlsModeLabel = "security.istio.io/tlsMode"

    static func sdsSecret(_ name: String) -> Envoy_Extensions_TransportSockets_Tls_V3_SdsSecretConfig {
        var grpc = Envoy_Config_Core_V3_GrpcService()
        grpc.envoyGrpc.clusterName = sdsCluster
        var source = Envoy_Config_Core_V3_ApiConfigSource()
        source.apiType = .grpc
        source.transportApiVersion = .v3
        source.setNodeOnFirstMessageOnly = true
        source.grpcServices = [grpc]
        var config = Envoy_Extensions_TransportSockets_Tls_V3_SdsSecretConfig()
        config.name = name
        config.sdsConfig.apiConfigSource = source
        config.sdsConfig.resourceApiVersion = .v3
        config.sdsConfig.initialFetchTimeout = Google_Protobuf_Duration(seconds: 0)
        return config
    }

    /// The workload's certificate, and peers checked against the mesh root (and, when given,
    /// against SPIFFE IDs).
    static func common(peerIdentities: [String] = [], alpn: [String]) -> Envoy_Extensions_TransportSockets_Tls_V3_CommonTlsContext {
        var context = Envoy_Extensions_TransportSockets_Tls_V3_CommonTlsContext()
        context.tlsCertificateSdsSecretConfigs = [sdsSecret(workloadSecret)]
        var validation = Envoy_Extensions_TransportSockets_Tls_V3_CertificateValidationContext()
        validation.matchTypedSubjectAltNames = peerIdentities.map { identity in
            var matcher = Envoy_Extensions_TransportSockets_Tls_V3_SubjectAltNameMatcher()
            matcher.sanType = .uri
            matcher.matcher.exact = identity
            return matcher
        }
        context.combinedValidationContext.defaultValidationContext = validation
        context.combinedValidationContext.validationContextSdsSecretConfig = sdsSecret(rootSecret)
        context.alpnProtocols = alpn
        return context
    }

    /// Whether a TLS context is the mesh's: it presents the workload's certificate from its agent.
    static func isWorkloadCertificate(_ context: Envoy_Extensions_TransportSockets_Tls_V3_CommonTlsContext) -> Bool {
        context.tlsCertificateSdsSecretConfigs.contains { $0.name == workloadSecret && $0.sdsConfig.apiConfigSource.grpcServices.first?.envoyGrpc.clusterName == sdsCluster }
    }

    /// A server side that requires a client certificate from the mesh.
    static func downstream() throws -> Envoy_Config_Core_V3_TransportSocket {
        var context = Envoy_Extensions_TransportSockets_Tls_V3_DownstreamTlsContext()
        context.commonTlsContext = common(alpn: ["h2", "http/1.1"])
        context.requireClientCertificate = Google_Protobuf_BoolValue(true)
        return try socket(context)
    }

    /// A client side to a mesh workload: its certificate, the server's SPIFFE ID checked, Istio's
    /// SNI (`outbound_.9080_.v1_.reviews.default.svc.cluster.local`).
    static func upstream(sni: String, peerIdentities: [String]) throws -> Envoy_Config_Core_V3_TransportSocket {
        var context = Envoy_Extensions_TransportSockets_Tls_V3_UpstreamTlsContext()
        context.commonTlsContext = common(peerIdentities: peerIdentities, alpn: [])
        // Envoy's client default stops at TLS 1.2; mesh hops use 1.3 (both ends are ours or Envoy).
        context.commonTlsContext.tlsParams.tlsMinimumProtocolVersion = .tlsv12
        context.commonTlsContext.tlsParams.tlsMaximumProtocolVersion = .tlsv13
        context.sni = sni
        return try socket(context)
    }

    /// DestinationRule SIMPLE / MUTUAL: TLS origination to a service outside the mesh, with files.
    static func originate(_ settings: ClientTLSSettings, defaultSNI: String) throws -> Envoy_Config_Core_V3_TransportSocket {
        var context = Envoy_Extensions_TransportSockets_Tls_V3_UpstreamTlsContext()
        context.sni = settings.sni ?? defaultSNI
        if settings.mode == .MUTUAL {
            var pair = Envoy_Extensions_TransportSockets_Tls_V3_TlsCertificate()
            if let certificate = settings.clientCertificate { pair.certificateChain.filename = certificate }
            if let key = settings.privateKey { pair.privateKey.filename = key }
            context.commonTlsContext.tlsCertificates = [pair]
        }
        if settings.insecureSkipVerify != true, let authority = settings.caCertificates {
            var validation = Envoy_Extensions_TransportSockets_Tls_V3_CertificateValidationContext()
            validation.trustedCa.filename = authority
            validation.matchTypedSubjectAltNames = (settings.subjectAltNames ?? []).map { name in
                var matcher = Envoy_Extensions_TransportSockets_Tls_V3_SubjectAltNameMatcher()
                matcher.sanType = name.hasPrefix("spiffe://") ? .uri : .dns
                matcher.matcher.exact = name
                return matcher
            }
            context.commonTlsContext.validationContext = validation
        }
        return try socket(context)
    }

    static func socket(_ message: any SwiftProtobuf.Message) throws -> Envoy_Config_Core_V3_TransportSocket {
        var socket = Envoy_Config_Core_V3_TransportSocket()
        socket.name = "envoy.transport_sockets.tls"
        socket.typedConfig = try Google_Protobuf_Any(message: message)
        return socket
    }

    /// Istio's SNI for an in-mesh hop.
    static func sni(port: UInt32, subset: String?, host: String) -> String {
        "outbound_.\(port)_.\(subset ?? "")_.\(host)"
    }
}
