// TLS as meshproxy speaks it, between real sockets on loopback: mTLS with SPIFFE checks, refusals, and the ClientHello inspector.

import Crypto
import Foundation
import NIOCore
import NIOEmbedded
import NIOPosix
import NIOSSL
import NIOTLS
@testable import ProxyConfig
@testable import ProxyCore
import SwiftASN1
import Telemetry
import Testing
import X509

/// A throwaway mesh CA and workload certificates with SPIFFE URIs, as meshd's CA issues them.
struct TestMeshCA {
    let name: DistinguishedName
    let key = P256.Signing.PrivateKey()
    let certificate: X509.Certificate
    let rootPEM: String

    init(organization: String = "cluster.local") throws {
        name = try DistinguishedName { OrganizationName(organization); CommonName("test root") }
        certificate = try X509.Certificate(
            version: .v3, serialNumber: .init(), publicKey: .init(key.publicKey),
            notValidBefore: Date().addingTimeInterval(-3600), notValidAfter: Date().addingTimeInterval(3600),
            issuer: name, subject: name, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: nil))
                Critical(KeyUsage(keyCertSign: true))
            },
            issuerPrivateKey: .init(key))
        rootPEM = try certificate.serializeAsPEM().pemString
    }

    /// A workload certificate for `uri` (and any `more` names): (chain PEM, key PEM).
    func issue(_ uri: String, more: [GeneralName] = [], expired: Bool = false) throws -> (String, String) {
        let leafKey = P256.Signing.PrivateKey()
        let start = expired ? Date().addingTimeInterval(-7200) : Date().addingTimeInterval(-60)
        let leaf = try X509.Certificate(
            version: .v3, serialNumber: .init(), publicKey: .init(leafKey.publicKey),
            notValidBefore: start, notValidAfter: start.addingTimeInterval(expired ? 60 : 3600),
            issuer: name, subject: try DistinguishedName { OrganizationName("cluster.local") }, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true, keyEncipherment: true))
                try ExtendedKeyUsage([.serverAuth, .clientAuth])
                SubjectAlternativeNames([.uniformResourceIdentifier(uri)] + more)
            },
            issuerPrivateKey: .init(key))
        return (try leaf.serializeAsPEM().pemString, leafKey.pemRepresentation)
    }
}

/// The server side of a test connection: records what the handshake proved and answers "ok"
/// (or says that the handshake's completion never reached the handlers behind the TLS ones).
final class PeerRecorder: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    let security: ConnectionSecurity
    private var handshakeSeen = false
    init(_ security: ConnectionSecurity) { self.security = security }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case TLSUserEvent.handshakeCompleted? = event as? TLSUserEvent { handshakeSeen = true }
        context.fireUserInboundEventTriggered(event)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let peer = security.peerURIs.first ?? "anonymous"
        let answer = handshakeSeen ? "ok \(peer)" : "no handshake event"
        context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: answer)), promise: nil)
    }
}

/// Collects what the client side reads, until the connection closes.
final class Collector: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    let done: EventLoopPromise<String>
    var text = ""
    init(_ done: EventLoopPromise<String>) { self.done = done }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        text += String(buffer: unwrapInboundIn(data))
        done.succeed(text)
    }
    func errorCaught(context: ChannelHandlerContext, error: Error) { done.fail(error); context.close(promise: nil) }
    func channelInactive(context: ChannelHandlerContext) { done.fail(ChannelError.eof) }
}

@Suite(.serialized) struct TLSTests {
    static let server = "spiffe://cluster.local/ns/default/sa/reviews"
    static let client = "spiffe://cluster.local/ns/default/sa/productpage"

    /// Secrets as the embedded agent stores them: `default` and `ROOTCA`.
    static func secrets(_ ca: TestMeshCA, _ uri: String, trust: TestMeshCA? = nil, expired: Bool = false) throws -> SecretCache {
        let cache = SecretCache()
        let (chain, key) = try ca.issue(uri, expired: expired)
        cache.set("ROOTCA", .trustBundle((trust ?? ca).rootPEM))
        cache.set("default", .certificate(chainPEM: chain, keyPEM: key))
        return cache
    }

    static let serverConfig = TLSContextConfig(role: .server, certificate: .secret("default"), trust: .secret("ROOTCA"),
                                               alpn: ["h2", "http/1.1"], requireClientCertificate: true, maximumVersion: .tls13)

    static func clientConfig(expecting names: [String]) -> TLSContextConfig {
        TLSContextConfig(role: .client, certificate: .secret("default"), trust: .secret("ROOTCA"),
                         subjectAltNames: names.map { SubjectAltNameMatcher(kind: .uri, matcher: StringMatcher(.exact($0))) },
                         serverName: "outbound_.9080_._.reviews.default.svc.cluster.local", maximumVersion: .tls13)
    }

    /// One connection: a server with `serverSecrets`, a client with `clientSecrets` and `clientConfig`;
    /// what the client read, or the error that ended it.
    static func exchange(serverSecrets: SecretCache, clientSecrets: SecretCache, clientConfig: TLSContextConfig,
                         serverConfig: TLSContextConfig = serverConfig,
                         serverSecurity: ConnectionSecurity = ConnectionSecurity()) async throws -> (Result<String, Error>, ConnectionSecurity) {
        let group = MultiThreadedEventLoopGroup.singleton
        let serverTLS = TLSContexts(secrets: serverSecrets)
        let clientTLS = TLSContexts(secrets: clientSecrets)
        let listener = try await ServerBootstrap(group: group)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(try serverTLS.serverHandler(serverConfig, security: serverSecurity))
                    try channel.pipeline.syncOperations.addHandler(TLSHandshakeCounter(worker: Worker(index: 0, loop: channel.eventLoop),
                                                                                       security: serverSecurity))
                    try channel.pipeline.syncOperations.addHandler(PeerRecorder(serverSecurity))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        let done = group.next().makePromise(of: String.self)
        let clientSecurity = ConnectionSecurity()
        let client = try await ClientBootstrap(group: group)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(try clientTLS.clientHandler(clientConfig, security: clientSecurity))
                    try channel.pipeline.syncOperations.addHandler(Collector(done))
                }
            }
            .connect(to: listener.localAddress!).get()
        let result: Result<String, Error>
        do {
            // A refused handshake closes the connection before the write (or the answer) happens.
            try await client.writeAndFlush(ByteBuffer(string: "hello")).get()
            result = .success(try await done.futureResult.get())
        } catch {
            result = .failure(error)
        }
        do {
            try await client.close()
        } catch ChannelError.alreadyClosed {
            // A refused handshake closed it already.
        }
        try await listener.close()
        return (result, clientSecurity)
    }

    @Test func mutualTLSProvesBothIdentities() async throws {
        let ca = try TestMeshCA()
        let serverSecurity = ConnectionSecurity()
        let (result, clientSecurity) = try await Self.exchange(serverSecrets: try Self.secrets(ca, Self.server),
                                                              clientSecrets: try Self.secrets(ca, Self.client),
                                                              clientConfig: Self.clientConfig(expecting: [Self.server]),
                                                              serverSecurity: serverSecurity)
        // The server saw the client's SPIFFE ID; the client checked the server's.
        #expect(try result.get() == "ok \(Self.client)")
        #expect(clientSecurity.peerURIs == [Self.server])
        #expect(clientSecurity.localURI == Self.client)
        // What the server's access log says of the connection (%DOWNSTREAM_TLS_VERSION% and the SANs).
        var info = DownstreamConnectionInfo()
        info.security = serverSecurity
        var record = AccessLogRecord(startTime: 0)
        info.fill(&record)
        #expect(record.downstreamTLSVersion == "TLSv1.3")
        #expect(record.downstreamPeerURISAN == Self.client && record.downstreamLocalURISAN == Self.server)
    }

    @Test func peerIdentitiesAreRememberedPerCertificate() throws {
        let ca = try TestMeshCA()
        let first = try NIOSSLCertificate(bytes: Array(try ca.issue(Self.server).0.utf8), format: .pem)
        let rotated = try NIOSSLCertificate(bytes: Array(try ca.issue(Self.client).0.utf8), format: .pem)
        let identities = PeerIdentities()
        for _ in 0..<2 {
            #expect(identities.identity(of: first)?.uris == [Self.server])
            #expect(identities.identity(of: rotated)?.uris == [Self.client], "a new certificate is parsed, not mistaken for the old")
        }
        let fresh = try #require(TLSContexts.identity(of: first))
        let remembered = try #require(identities.identity(of: first))
        #expect(remembered.hash == fresh.hash && remembered.subject == fresh.subject && fresh.hash.count == 64)
    }

    @Test func serverWithTheWrongIdentityIsRefusedBeforeAnyByte() async throws {
        let ca = try TestMeshCA()
        let (result, _) = try await Self.exchange(serverSecrets: try Self.secrets(ca, "spiffe://cluster.local/ns/default/sa/impostor"),
                                                  clientSecrets: try Self.secrets(ca, Self.client),
                                                  clientConfig: Self.clientConfig(expecting: [Self.server]))
        #expect(throws: (any Error).self) { try result.get() }
    }

    @Test func clientFromAnotherCAIsRefused() async throws {
        let mesh = try TestMeshCA()
        let foreign = try TestMeshCA(organization: "elsewhere")
        // The client trusts the mesh (so it would accept the server) but its certificate is foreign.
        let (result, _) = try await Self.exchange(serverSecrets: try Self.secrets(mesh, Self.server),
                                                  clientSecrets: try Self.secrets(foreign, Self.client, trust: mesh),
                                                  clientConfig: Self.clientConfig(expecting: [Self.server]))
        #expect(throws: (any Error).self) { try result.get() }
    }

    @Test func expiredServerCertificateIsRefused() async throws {
        let ca = try TestMeshCA()
        let (result, _) = try await Self.exchange(serverSecrets: try Self.secrets(ca, Self.server, expired: true),
                                                  clientSecrets: try Self.secrets(ca, Self.client),
                                                  clientConfig: Self.clientConfig(expecting: [Self.server]))
        #expect(throws: (any Error).self) { try result.get() }
    }

    @Test func aMissingSecretIsAClearErrorNotAHandshake() throws {
        let contexts = TLSContexts(secrets: SecretCache())
        #expect {
            _ = try contexts.serverHandler(Self.serverConfig, security: ConnectionSecurity())
        } throws: { error in
            "\(error)".contains("the certificate \"default\" has not arrived")
        }
    }

    @Test func rotationReachesNewConnections() async throws {
        let ca = try TestMeshCA()
        let serverSecrets = try Self.secrets(ca, Self.server)
        let clientSecrets = try Self.secrets(ca, Self.client)
        let config = Self.clientConfig(expecting: [Self.server])
        let (first, _) = try await Self.exchange(serverSecrets: serverSecrets, clientSecrets: clientSecrets, clientConfig: config)
        #expect(try first.get() == "ok \(Self.client)")
        // A new certificate for another identity: the next connection presents it.
        let (chain, key) = try ca.issue("spiffe://cluster.local/ns/default/sa/productpage-v2")
        clientSecrets.set("default", .certificate(chainPEM: chain, keyPEM: key))
        let (second, _) = try await Self.exchange(serverSecrets: serverSecrets, clientSecrets: clientSecrets, clientConfig: config)
        #expect(try second.get() == "ok spiffe://cluster.local/ns/default/sa/productpage-v2")
    }

    @Test func forwardedClientCertDetailsInEnvoysOrder() throws {
        let security = ConnectionSecurity()
        #expect(security.clientCertDetails(subject: true, uri: true, dns: true) == nil)
        let ca = try TestMeshCA()
        let (chain, _) = try ca.issue(Self.client)
        let identity = try #require(TLSContexts.identity(of: try NIOSSLCertificate.fromPEMBytes(Array(chain.utf8))[0]))
        #expect(identity.uris == [Self.client])
        // IP SANs as text, IPv6 compressed (what a matcher compares).
        let (named, _) = try ca.issue(Self.client, more: [.ipAddress(ASN1OctetString(contentBytes: [10, 0, 0, 7])),
                                                           .ipAddress(ASN1OctetString(contentBytes: [0x20, 0x01, 0x0d, 0xb8] + Array(repeating: 0, count: 11) + [1])),
                                                           .dnsName("reviews.default.svc")])
        let both = try #require(TLSContexts.identity(of: try NIOSSLCertificate.fromPEMBytes(Array(named.utf8))[0]))
        #expect(both.ipAddresses == ["10.0.0.7", "2001:db8::1"])
        #expect(both.dnsNames == ["reviews.default.svc"])
        #expect(TLSContexts.ipText([1, 2, 3]) == nil)
        #expect(identity.subject == "O=cluster.local")
        #expect(identity.hash.count == 64)
    }

    // MARK: - ClientHello inspection

    /// The first bytes a real TLS client (NIOSSL, BoringSSL) sends with this SNI and ALPN.
    static func clientHello(serverName: String?, alpn: [String]) throws -> ByteBuffer {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.applicationProtocols = alpn
        configuration.certificateVerification = .none
        let context = try NIOSSLContext(configuration: configuration)
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(try NIOSSLClientHandler(context: context, serverHostname: serverName))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 443)).wait()
        var hello = ByteBuffer()
        while var chunk = try channel.readOutbound(as: ByteBuffer.self) { hello.writeBuffer(&chunk) }
        _ = try channel.finish(acceptAlreadyClosed: true)
        return hello
    }

    @Test func inspectorReadsServerNameAndALPN() throws {
        let hello = try Self.clientHello(serverName: "outbound_.9080_.v1_.reviews.default.svc.cluster.local", alpn: ["istio", "h2"])
        #expect(ClientHello.parse(hello.readableBytesView) == .done(ClientHello(
            isTLS: true, serverName: "outbound_.9080_.v1_.reviews.default.svc.cluster.local", applicationProtocols: ["istio", "h2"])))
        // Every prefix of it asks for more: a hello split across reads is reassembled.
        for cut in [1, 5, hello.readableBytes / 2, hello.readableBytes - 1] {
            #expect(ClientHello.parse(hello.getSlice(at: 0, length: cut)!.readableBytesView) == .needMore)
        }
        let bare = try Self.clientHello(serverName: nil, alpn: [])
        #expect(ClientHello.parse(bare.readableBytesView) == .done(ClientHello(isTLS: true, serverName: nil, applicationProtocols: [])))
    }

    @Test func inspectorTellsPlaintextAtOnce() {
        #expect(ClientHello.parse(ByteBuffer(string: "GET / HTTP/1.1\r\n").readableBytesView) == .done(.plaintext))
        #expect(ClientHello.parse(ByteBuffer(string: "PRI * HTTP/2.0").readableBytesView) == .done(.plaintext))
        // A handshake record byte followed by something that is not TLS's version is not TLS.
        #expect(ClientHello.parse(ByteBuffer(bytes: [0x16, 0x47]).readableBytesView) == .done(.plaintext))
        #expect(ClientHello.parse(ByteBuffer().readableBytesView) == .needMore)
    }

    @Test func inspectorHandsTheBytesOnAndLeaves() throws {
        let channel = EmbeddedChannel()
        var chosen: ClientHello?
        try channel.pipeline.syncOperations.addHandler(TLSInspector { hello, _ in chosen = hello })
        let hello = try Self.clientHello(serverName: "details", alpn: ["h2"])
        try channel.writeInbound(hello.getSlice(at: 0, length: 10)!)
        #expect(chosen == nil)
        try channel.writeInbound(hello.getSlice(at: 10, length: hello.readableBytes - 10)!)
        #expect(chosen?.serverName == "details")
        #expect(try channel.readInbound(as: ByteBuffer.self) == hello)
        #expect(throws: (any Error).self) { try channel.pipeline.syncOperations.handler(type: TLSInspector.self) }
    }

    @Test func inspectorClosesAClientThatSaysNothing() throws {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(TLSInspector(timeout: .seconds(15)) { _, _ in })
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        try channel.writeInbound(ByteBuffer(bytes: [0x16, 0x03]))
        channel.embeddedEventLoop.advanceTime(by: .seconds(16))
        #expect(!channel.isActive)
    }
}
