// TLS on the proxy's connections: contexts built from config and secrets, and the peer each connection proved.

#if canImport(Glibc)
import Glibc
#endif
import Crypto
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import NIOCore
import NIOSSL
import NIOTLS
import ProxyConfig
import X509

/// Who the other end of one TLS connection is, filled in during its handshake (on the
/// connection's loop, before any application byte passes) and read by the layers above:
/// `x-forwarded-client-cert`, `x-forwarded-proto`, and later the mesh's telemetry labels.
public final class ConnectionSecurity: @unchecked Sendable {  // written once on the loop, then only read there
    /// The peer certificate's URI SANs (a mesh workload's SPIFFE ID is the first).
    public fileprivate(set) var peerURIs: [String] = []
    public fileprivate(set) var peerDNSNames: [String] = []
    /// The peer certificate's subject, RFC 4514 (empty for mesh workload certificates).
    public fileprivate(set) var peerSubject = ""
    /// Hex SHA-256 of the peer certificate's DER (Envoy's XFCC `Hash`).
    public fileprivate(set) var peerCertificateHash: String?
    /// This side's own URI SAN (XFCC `By`).
    public fileprivate(set) var localURI: String?
    /// The SNI the client asked for (`%REQUESTED_SERVER_NAME%`).
    public internal(set) var requestedServerName: String?
    /// The negotiated version as Envoy prints it (`TLSv1.3`), once the handshake is done
    /// (`%DOWNSTREAM_TLS_VERSION%`).
    public internal(set) var tlsVersion: String?

    public init() {}

    /// The peer presented a certificate that passed verification.
    public var peerAuthenticated: Bool { peerCertificateHash != nil }

    /// This connection's element of `x-forwarded-client-cert`, in Envoy's field order
    /// (By, Hash, Subject, URI, DNS); nil without a client certificate.
    public func clientCertDetails(subject: Bool, uri: Bool, dns: Bool) -> String? {
        guard let hash = peerCertificateHash else { return nil }
        var fields: [String] = []
        if let localURI { fields.append("By=\(localURI)") }
        fields.append("Hash=\(hash)")
        if subject { fields.append("Subject=\"\(peerSubject.replacing("\"", with: "\\\""))\"") }
        if uri { fields += peerURIs.map { "URI=\($0)" } }
        if dns { fields += peerDNSNames.map { "DNS=\($0)" } }
        return fields.joined(separator: ";")
    }
}

public struct TLSSetupError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}

/// One worker's TLS contexts (confined to its loop, so no lock). A context is built on first
/// use and kept until the secrets it was built from change (a certificate rotation: connections
/// open on the old one go on, new ones get the new certificate) or a new config snapshot
/// arrives. Building one parses PEM and keys, milliseconds; handshakes reuse it.
public final class TLSContexts {
    private struct Entry {
        let config: TLSContextConfig  // held so its identifier is not reused while cached
        let generation: Int
        let context: NIOSSLContext
        let localURI: String?
    }

    public let secrets: SecretCache
    /// By config and, for the TCP proxy's metadata exchange, the ALPN offered in its place.
    private var cache: [Key: Entry] = [:]
    private struct Key: Hashable {
        let config: ObjectIdentifier
        let alpn: [String]?
    }
    private let identities = PeerIdentities()

    public init(secrets: SecretCache) {
        self.secrets = secrets
    }

    /// Forgets every context (a new snapshot: its configs are new objects).
    public func reset() {
        cache.removeAll(keepingCapacity: true)
    }

    /// A server handler for a connection accepted on a chain with `config`.
    public func serverHandler(_ config: TLSContextConfig, security: ConnectionSecurity) throws -> NIOSSLServerHandler {
        let entry = try self.entry(config)
        security.localURI = entry.localURI
        return NIOSSLServerHandler._makeSSLServerHandler(context: entry.context,
                                                         additionalPeerCertificateVerificationCallback: Self.peerCheck(config, security, identities))
    }

    /// A client handler for an upstream connection with `config`: SNI, our certificate, and the
    /// server's chain and SAN checked before the first request byte leaves. `alpn` replaces the
    /// config's protocols (a TCP proxy connection offering Istio's metadata exchange).
    public func clientHandler(_ config: TLSContextConfig, security: ConnectionSecurity = ConnectionSecurity(),
                              alpn: [String]? = nil) throws -> NIOSSLClientHandler {
        let entry = try self.entry(config, alpn: alpn)
        security.localURI = entry.localURI
        return try NIOSSLClientHandler._makeSSLClientHandler(context: entry.context, serverHostname: config.serverName,
                                                             additionalPeerCertificateVerificationCallback: Self.peerCheck(config, security, identities))
    }

    private func entry(_ config: TLSContextConfig, alpn: [String]? = nil) throws -> Entry {
        let generation = secrets.generation
        let key = Key(config: ObjectIdentifier(config), alpn: alpn)
        if let cached = cache[key], cached.config === config, cached.generation == generation { return cached }
        let (context, localURI) = try build(config, alpn: alpn ?? config.alpn)
        let entry = Entry(config: config, generation: generation, context: context, localURI: localURI)
        cache[key] = entry
        return entry
    }

    /// Parses a secret as a context would use it, so a stream can refuse one that could not
    /// serve (a chain or key that does not parse, a key that is not the leaf's) before it
    /// replaces one that can.
    public static func check(_ secret: SecretCache.Secret) throws {
        switch secret {
        case .certificate(let chainPEM, let keyPEM):
            let chain: [NIOSSLCertificate]
            let key: NIOSSLPrivateKey
            do {
                chain = try NIOSSLCertificate.fromPEMBytes(Array(chainPEM.utf8))
            } catch {
                throw TLSSetupError("certificate_chain does not parse: \(error)")
            }
            do {
                key = try NIOSSLPrivateKey(bytes: Array(keyPEM.utf8), format: .pem)
            } catch {
                throw TLSSetupError("private_key does not parse: \(error)")
            }
            guard let leaf = chain.first else { throw TLSSetupError("certificate_chain has no certificate") }
            do {
                // A server context refuses a key that does not belong to its leaf certificate.
                _ = try NIOSSLContext(configuration: .makeServerConfiguration(certificateChain: [.certificate(leaf)], privateKey: .privateKey(key)))
            } catch {
                throw TLSSetupError("private_key is not the key of the chain's first certificate: \(error)")
            }
        case .trustBundle(let pem):
            do {
                guard try !NIOSSLCertificate.fromPEMBytes(Array(pem.utf8)).isEmpty else { throw TLSSetupError("trusted_ca has no certificate") }
            } catch let error as TLSSetupError {
                throw error
            } catch {
                throw TLSSetupError("trusted_ca does not parse: \(error)")
            }
        }
    }

    private func build(_ config: TLSContextConfig, alpn: [String]) throws -> (NIOSSLContext, String?) {
        var chain: [NIOSSLCertificate] = []
        var key: NIOSSLPrivateKey?
        do {
            switch config.certificate {
            case .pair(let chainSource, let keySource)?:
                chain = try NIOSSLCertificate.fromPEMBytes(Array(try Self.text(chainSource).utf8))
                key = try NIOSSLPrivateKey(bytes: Array(try Self.text(keySource).utf8), format: .pem)
            case .secret(let name)?:
                guard case .certificate(let chainPEM, let keyPEM)? = secrets[name] else {
                    throw TLSSetupError("the certificate \"\(name)\" has not arrived from the identity agent yet")
                }
                chain = try NIOSSLCertificate.fromPEMBytes(Array(chainPEM.utf8))
                key = try NIOSSLPrivateKey(bytes: Array(keyPEM.utf8), format: .pem)
            case nil:
                break
            }
        } catch let error as TLSSetupError {
            throw error
        } catch {
            throw TLSSetupError("\(config): its certificate or key does not parse: \(error)")
        }
        var configuration: TLSConfiguration
        switch config.role {
        case .server:
            guard let key, !chain.isEmpty else { throw TLSSetupError("\(config): a server needs a certificate") }
            configuration = .makeServerConfiguration(certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
        case .client:
            configuration = .makeClientConfiguration()
            if let key {
                configuration.certificateChain = chain.map { .certificate($0) }
                configuration.privateKey = .privateKey(key)
            }
        }
        if let trust = config.trust {
            let pem: String
            switch trust {
            case .bundle(let source):
                pem = try Self.text(source)
            case .secret(let name):
                guard case .trustBundle(let bundle)? = secrets[name] else {
                    throw TLSSetupError("the trust bundle \"\(name)\" has not arrived from the identity agent yet")
                }
                pem = bundle
            }
            do {
                configuration.trustRoots = .certificates(try NIOSSLCertificate.fromPEMBytes(Array(pem.utf8)))
            } catch {
                throw TLSSetupError("\(config): its trusted CA does not parse: \(error)")
            }
            // A server without require_client_certificate still checks a certificate that is offered.
            configuration.certificateVerification = config.role == .server && !config.requireClientCertificate
                ? .optionalVerification : .noHostnameVerification
        } else {
            configuration.certificateVerification = .none  // Envoy: no validation context, no verification
        }
        configuration.minimumTLSVersion = Self.version(config.minimumVersion)
        configuration.maximumTLSVersion = Self.version(config.maximumVersion)
        configuration.applicationProtocols = alpn
        do {
            return (try NIOSSLContext(configuration: configuration), chain.first.flatMap { Self.identity(of: $0)?.uris.first })
        } catch {
            throw TLSSetupError("\(config): \(error)")
        }
    }

    /// After the chain verified: the SAN matchers, then what the layers above want to know.
    private static func peerCheck(_ config: TLSContextConfig, _ security: ConnectionSecurity,
                                  _ identities: PeerIdentities) -> _NIOAdditionalPeerCertificateVerificationCallback {
        { certificate, channel in
            guard let identity = identities.identity(of: certificate) else {
                return channel.eventLoop.makeFailedFuture(TLSSetupError("the peer's certificate does not parse"))
            }
            if !config.subjectAltNames.isEmpty {
                let matched = config.subjectAltNames.contains { matcher in
                    let names: [String]
                    switch matcher.kind {
                    case .uri: names = identity.uris
                    case .dns: names = identity.dnsNames
                    case .email: names = identity.emails
                    case .ipAddress: names = identity.ipAddresses
                    }
                    return names.contains(where: matcher.matcher.matches)
                }
                guard matched else {
                    return channel.eventLoop.makeFailedFuture(
                        TLSSetupError("the peer's certificate (\((identity.uris + identity.dnsNames).joined(separator: ", "))) matches no allowed subject alt name"))
                }
            }
            security.peerURIs = identity.uris
            security.peerDNSNames = identity.dnsNames
            security.peerSubject = identity.subject
            security.peerCertificateHash = identity.hash
            return channel.eventLoop.makeSucceededVoidFuture()
        }
    }

    struct Identity {
        var uris: [String] = []
        var dnsNames: [String] = []
        var emails: [String] = []
        var ipAddresses: [String] = []
        var subject = ""
        var hash = ""
    }

    /// What a verified certificate says of its holder; nil when it, or its SAN extension, does
    /// not parse (the handshake is then refused: a name that cannot be read cannot match).
    static func identity(of certificate: NIOSSLCertificate) -> Identity? {
        guard let der = try? certificate.toDERBytes() else { return nil }
        return identity(der: der)
    }

    static func identity(der: [UInt8]) -> Identity? {
        let names: SubjectAlternativeNames?
        let parsed: X509.Certificate
        do {
            parsed = try X509.Certificate(derEncoded: der)
            names = try parsed.extensions.subjectAlternativeNames
        } catch {
            return nil
        }
        var identity = Identity()
        identity.subject = parsed.subject.description
        identity.hash = SHA256.hash(data: der).map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
        for name in names.map(Array.init) ?? [] {
            switch name {
            case .uniformResourceIdentifier(let uri): identity.uris.append(uri)
            case .dnsName(let dns): identity.dnsNames.append(dns)
            case .rfc822Name(let email): identity.emails.append(email)
            case .ipAddress(let bytes):
                guard let text = ipText(Array(bytes.bytes)) else { return nil }
                identity.ipAddresses.append(text)
            default: break
            }
        }
        return identity
    }

    /// An IP SAN's 4 or 16 bytes as text (IPv6 in its compressed form, as Envoy matches it).
    static func ipText(_ octets: [UInt8]) -> String? {
        let family: Int32
        switch octets.count {
        case 4: family = AF_INET
        case 16: family = AF_INET6
        default: return nil
        }
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        let written = octets.withUnsafeBytes { inet_ntop(family, $0.baseAddress, &text, socklen_t(text.count)) }
        return written == nil ? nil : String(cString: text)
    }

    static func text(_ source: PEMSource) throws -> String {
        switch source {
        case .inline(let text): return text
        case .file(let path):
            guard let data = FileManager.default.contents(atPath: path) else { throw TLSSetupError("cannot read \(path)") }
            return String(decoding: data, as: UTF8.self)
        }
    }

    static func version(_ version: TLSContextConfig.Version) -> TLSVersion {
        switch version {
        case .tls10: return .tlsv1
        case .tls11: return .tlsv11
        case .tls12: return .tlsv12
        case .tls13: return .tlsv13
        }
    }
}

/// The identities of peer certificates this worker has verified, by their DER bytes. A mesh
/// peer presents the same certificate on every connection until it rotates, so each handshake
/// after the first skips parsing it (X.509 in Swift, the subject's text and its SHA-256 were
/// 8% of a worker's CPU at a handshake per request). Only verified certificates get here: the
/// callback runs after BoringSSL checked the chain. Confined to the worker's loop.
final class PeerIdentities: @unchecked Sendable {
    private var known: [[UInt8]: TLSContexts.Identity] = [:]
    /// Rotation every few hours makes a handful of entries per peer; more than this starts afresh.
    static let limit = 1024

    func identity(of certificate: NIOSSLCertificate) -> TLSContexts.Identity? {
        guard let der = try? certificate.toDERBytes() else { return nil }
        if let identity = known[der] { return identity }
        guard let identity = TLSContexts.identity(der: der) else { return nil }
        if known.count >= Self.limit { known.removeAll(keepingCapacity: true) }
        known[der] = identity
        return identity
    }
}

/// Counts a downstream connection's handshake outcome in the worker's stats and notes its TLS
/// version, then steps aside.
final class TLSHandshakeCounter: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    private let worker: Worker
    private let security: ConnectionSecurity

    init(worker: Worker, security: ConnectionSecurity) {
        self.worker = worker
        self.security = security
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case TLSUserEvent.handshakeCompleted? = event as? TLSUserEvent {
            worker.stats.tlsHandshakes += 1
            let version = try? context.pipeline.syncOperations.handler(type: NIOSSLServerHandler.self).tlsVersion
            security.tlsVersion = version.map(Self.envoyName)
            // On first, then out: a removed handler's context forwards nothing (NIO clears its
            // links), and the handlers after this one (the TCP proxy) wait for this event.
            context.fireUserInboundEventTriggered(event)
            context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    /// Envoy's (BoringSSL's) names: `TLSv1.2`, `TLSv1.3`.
    static func envoyName(_ version: TLSVersion) -> String {
        switch version {
        case .tlsv1: return "TLSv1"
        case .tlsv11: return "TLSv1.1"
        case .tlsv12: return "TLSv1.2"
        case .tlsv13: return "TLSv1.3"
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        worker.stats.tlsHandshakeErrors += 1
        context.fireErrorCaught(error)
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }
}
