// Envoy's TLS transport socket as the proxy runs it: whose certificate, which peers, which protocols.

import EnvoyAPI
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import SwiftProtobuf

/// PEM text from a config: inline in the resource, from a file, or from a secret the proxy's
/// identity agent (SDS) holds under a name. Files are read when a connection needs the context,
/// so a rotated file is picked up without a config push.
public enum PEMSource: Sendable, Hashable {
    case inline(String)
    case file(String)

    init(proto: Envoy_Config_Core_V3_DataSource, at path: String) throws {
        switch proto.specifier {
        case .filename(let name)?: self = .file(name)
        case .inlineBytes(let bytes)?: self = .inline(String(decoding: bytes, as: UTF8.self))
        case .inlineString(let text)?: self = .inline(text)
        case .environmentVariable?:
            throw ProxyConfigError(path, "environment_variable data sources are not supported by meshproxy")
        case nil:
            throw ProxyConfigError(path, "needs filename, inline_bytes or inline_string")
        }
    }
}

/// A peer certificate's subject alternative name, matched as Envoy's `match_typed_subject_alt_names` says.
public struct SubjectAltNameMatcher: Sendable {
    public enum Kind: String, Sendable { case uri, dns, email, ipAddress = "ip_address" }
    public let kind: Kind
    public let matcher: StringMatcher

    public init(kind: Kind, matcher: StringMatcher) {
        self.kind = kind
        self.matcher = matcher
    }
}

/// One side's TLS: `DownstreamTlsContext` on a filter chain or `UpstreamTlsContext` on a cluster.
/// A class: connections hold it by reference, and the worker caches the built context per instance.
public final class TLSContextConfig: Sendable, CustomStringConvertible {
    public enum Role: Sendable { case server, client }
    public enum Certificate: Sendable, Hashable {
        case pair(chain: PEMSource, key: PEMSource)
        /// The SDS secret of this name (Istio's `default`: the workload's certificate and key).
        case secret(String)
    }
    public enum Trust: Sendable, Hashable {
        case bundle(PEMSource)
        /// The SDS secret of this name (Istio's `ROOTCA`).
        case secret(String)
    }
    public enum Version: Int, Sendable, Comparable {
        case tls10 = 10, tls11 = 11, tls12 = 12, tls13 = 13
        public static func < (lhs: Version, rhs: Version) -> Bool { lhs.rawValue < rhs.rawValue }
    }

    public let role: Role
    /// The certificate this side presents (required for a server; optional for a client).
    public let certificate: Certificate?
    /// The peer's chain is verified against this; nil: not verified (Envoy's behaviour without a
    /// validation context).
    public let trust: Trust?
    /// The peer's certificate must carry a matching SAN (any of these); empty: any.
    public let subjectAltNames: [SubjectAltNameMatcher]
    public let alpn: [String]
    /// Client: the server name sent (SNI).
    public let serverName: String?
    /// Server: a client certificate is required.
    public let requireClientCertificate: Bool
    public let minimumVersion: Version
    public let maximumVersion: Version

    /// Secret names the context needs before it can be built.
    public var secretNames: [String] {
        var names: [String] = []
        if case .secret(let name)? = certificate { names.append(name) }
        if case .secret(let name)? = trust { names.append(name) }
        return names
    }

    public var description: String {
        "\(role == .server ? "server" : "client") TLS\(serverName.map { " to \($0)" } ?? "")"
    }

    public init(role: Role, certificate: Certificate?, trust: Trust?, subjectAltNames: [SubjectAltNameMatcher] = [],
                alpn: [String] = [], serverName: String? = nil, requireClientCertificate: Bool = false,
                minimumVersion: Version = .tls12, maximumVersion: Version = .tls13) {
        self.role = role
        self.certificate = certificate
        self.trust = trust
        self.subjectAltNames = subjectAltNames
        self.alpn = alpn
        self.serverName = serverName
        self.requireClientCertificate = requireClientCertificate
        self.minimumVersion = minimumVersion
        self.maximumVersion = maximumVersion
    }

    /// A transport socket: nil for plaintext (`raw_buffer`), a context for `tls`.
    static func transportSocket(_ proto: Envoy_Config_Core_V3_TransportSocket, role: Role, limits: ConfigLimits,
                                at path: String) throws -> TLSContextConfig? {
        switch proto.name {
        case "envoy.transport_sockets.raw_buffer":
            return nil
        case "envoy.transport_sockets.tls":
            let configPath = path + ".typed_config"
            switch role {
            case .server:
                let context = try unpack(proto.typedConfig, as: Envoy_Extensions_TransportSockets_Tls_V3_DownstreamTlsContext.self, at: configPath)
                return try TLSContextConfig(downstream: context, limits: limits, at: configPath)
            case .client:
                let context = try unpack(proto.typedConfig, as: Envoy_Extensions_TransportSockets_Tls_V3_UpstreamTlsContext.self, at: configPath)
                return try TLSContextConfig(upstream: context, limits: limits, at: configPath)
            }
        default:
            throw ProxyConfigError(path + ".name", "transport socket \(proto.name) is not supported by meshproxy (raw_buffer and tls are)")
        }
    }

    convenience init(downstream proto: Envoy_Extensions_TransportSockets_Tls_V3_DownstreamTlsContext, limits: ConfigLimits, at path: String) throws {
        var rest = proto
        let common = try Common(proto: proto.commonTlsContext, limits: limits, at: path + ".common_tls_context")
        rest.clearCommonTlsContext()
        guard common.certificate != nil else {
            throw ProxyConfigError(path + ".common_tls_context", "a server needs a certificate (tls_certificates or tls_certificate_sds_secret_configs)")
        }
        let requireClient = proto.hasRequireClientCertificate && proto.requireClientCertificate.value
        rest.clearRequireClientCertificate()
        if requireClient && common.trust == nil {
            throw ProxyConfigError(path + ".require_client_certificate", "needs a validation context to check client certificates against")
        }
        // Session resumption settings tune performance, not who may connect.
        rest.disableStatefulSessionResumption = false
        rest.sessionTicketKeysType = nil
        rest.clearSessionTimeout()
        try requireNothingElse(rest, at: path)
        self.init(role: .server, certificate: common.certificate, trust: common.trust, subjectAltNames: common.subjectAltNames,
                  alpn: common.alpn, requireClientCertificate: requireClient,
                  minimumVersion: common.minimumVersion ?? .tls12, maximumVersion: common.maximumVersion ?? .tls13)
    }

    convenience init(upstream proto: Envoy_Extensions_TransportSockets_Tls_V3_UpstreamTlsContext, limits: ConfigLimits, at path: String) throws {
        var rest = proto
        let common = try Common(proto: proto.commonTlsContext, limits: limits, at: path + ".common_tls_context")
        rest.clearCommonTlsContext()
        rest.sni = ""
        // A cap on cached sessions: performance only.
        rest.clearMaxSessionKeys()
        try requireNothingElse(rest, at: path)
        // Envoy's defaults: a client offers TLS 1.2 only unless told otherwise (ConfigGen asks for
        // 1.3 on mesh hops), a server accepts 1.2 and 1.3.
        self.init(role: .client, certificate: common.certificate, trust: common.trust, subjectAltNames: common.subjectAltNames,
                  alpn: common.alpn, serverName: proto.sni.isEmpty ? nil : proto.sni,
                  minimumVersion: common.minimumVersion ?? .tls12, maximumVersion: common.maximumVersion ?? .tls12)
    }

    /// `CommonTlsContext`: what both sides share.
    private struct Common {
        var certificate: Certificate?
        var trust: Trust?
        var subjectAltNames: [SubjectAltNameMatcher] = []
        var alpn: [String] = []
        var minimumVersion: Version?
        var maximumVersion: Version?

        init(proto: Envoy_Extensions_TransportSockets_Tls_V3_CommonTlsContext, limits: ConfigLimits, at path: String) throws {
            var rest = proto
            let certificates = proto.tlsCertificates.count + proto.tlsCertificateSdsSecretConfigs.count
            guard certificates <= 1 else {
                throw ProxyConfigError(path, "meshproxy presents one certificate per context (got \(certificates))")
            }
            if let pair = proto.tlsCertificates.first {
                let pairPath = path + ".tls_certificates[0]"
                guard pair.hasCertificateChain, pair.hasPrivateKey else {
                    throw ProxyConfigError(pairPath, "needs certificate_chain and private_key")
                }
                var pairRest = pair
                certificate = .pair(chain: try PEMSource(proto: pair.certificateChain, at: pairPath + ".certificate_chain"),
                                    key: try PEMSource(proto: pair.privateKey, at: pairPath + ".private_key"))
                pairRest.clearCertificateChain()
                pairRest.clearPrivateKey()
                try requireNothingElse(pairRest, at: pairPath)
            }
            rest.tlsCertificates = []
            if let sds = proto.tlsCertificateSdsSecretConfigs.first {
                certificate = .secret(try Self.secretName(sds, at: path + ".tls_certificate_sds_secret_configs[0]"))
            }
            rest.tlsCertificateSdsSecretConfigs = []
            switch proto.validationContextType {
            case .validationContext(let validation)?:
                try apply(validation, limits: limits, at: path + ".validation_context")
            case .validationContextSdsSecretConfig(let sds)?:
                trust = .secret(try Self.secretName(sds, at: path + ".validation_context_sds_secret_config"))
            case .combinedValidationContext(let combined)?:
                let combinedPath = path + ".combined_validation_context"
                var combinedRest = combined
                try apply(combined.defaultValidationContext, limits: limits, at: combinedPath + ".default_validation_context")
                combinedRest.clearDefaultValidationContext()
                if combined.hasValidationContextSdsSecretConfig {
                    trust = .secret(try Self.secretName(combined.validationContextSdsSecretConfig,
                                                        at: combinedPath + ".validation_context_sds_secret_config"))
                }
                combinedRest.clearValidationContextSdsSecretConfig()
                try requireNothingElse(combinedRest, at: combinedPath)
            case nil:
                break
            default:
                throw ProxyConfigError(path, "certificate provider validation contexts are not supported by meshproxy")
            }
            rest.validationContextType = nil
            alpn = proto.alpnProtocols
            rest.alpnProtocols = []
            if proto.hasTlsParams {
                let params = proto.tlsParams
                var paramsRest = params
                minimumVersion = try Self.version(params.tlsMinimumProtocolVersion, at: path + ".tls_params.tls_minimum_protocol_version")
                maximumVersion = try Self.version(params.tlsMaximumProtocolVersion, at: path + ".tls_params.tls_maximum_protocol_version")
                paramsRest.tlsMinimumProtocolVersion = .tlsAuto
                paramsRest.tlsMaximumProtocolVersion = .tlsAuto
                // Cipher and curve lists change who can connect: refused rather than ignored.
                try requireNothingElse(paramsRest, at: path + ".tls_params")
            }
            rest.clearTlsParams()
            try requireNothingElse(rest, at: path)
        }

        /// A validation context: trusted CA and SAN matchers (the rest changes who may connect
        /// and is refused by name).
        mutating func apply(_ proto: Envoy_Extensions_TransportSockets_Tls_V3_CertificateValidationContext, limits: ConfigLimits,
                            at path: String) throws {
            var rest = proto
            if proto.hasTrustedCa {
                trust = .bundle(try PEMSource(proto: proto.trustedCa, at: path + ".trusted_ca"))
            }
            rest.clearTrustedCa()
            subjectAltNames += try proto.matchTypedSubjectAltNames.enumerated().map { index, typed in
                let matcherPath = "\(path).match_typed_subject_alt_names[\(index)]"
                let kind: SubjectAltNameMatcher.Kind
                switch typed.sanType {
                case .uri: kind = .uri
                case .dns: kind = .dns
                case .email: kind = .email
                case .ipAddress: kind = .ipAddress
                default: throw ProxyConfigError(matcherPath + ".san_type", "must be URI, DNS, EMAIL or IP_ADDRESS")
                }
                return SubjectAltNameMatcher(kind: kind, matcher: try StringMatcher(proto: typed.matcher, limits: limits, at: matcherPath + ".matcher"))
            }
            rest.matchTypedSubjectAltNames = []
            guard proto.matchSubjectAltNames.isEmpty else {
                throw ProxyConfigError(path + ".match_subject_alt_names", "deprecated; use match_typed_subject_alt_names")
            }
            try requireNothingElse(rest, at: path)
        }

        /// An SDS reference: the name is what counts; the source is the proxy's own identity
        /// agent (or SDS stream), whatever config source the resource names.
        static func secretName(_ proto: Envoy_Extensions_TransportSockets_Tls_V3_SdsSecretConfig, at path: String) throws -> String {
            guard !proto.name.isEmpty else { throw ProxyConfigError(path + ".name", "is empty") }
            return proto.name
        }

        static func version(_ proto: Envoy_Extensions_TransportSockets_Tls_V3_TlsParameters.TlsProtocol, at path: String) throws -> Version? {
            switch proto {
            case .tlsAuto: return nil
            case .tlsv10: return .tls10
            case .tlsv11: return .tls11
            case .tlsv12: return .tls12
            case .tlsv13: return .tls13
            case .UNRECOGNIZED(let value): throw ProxyConfigError(path, "unknown TLS version \(value)")
            }
        }
    }
}
