// What the proxy knows of a client connection: its addresses, ID and TLS, worked out once when it is taken.

import NIOCore
import Synchronization
import Telemetry

/// One client connection as the listener took it: addresses as access logs print them
/// (`127.0.0.1:9080`), Envoy's connection ID, and its TLS. Built once per connection and
/// shared by every request on it (every stream, for HTTP/2).
public struct DownstreamConnectionInfo: Sendable {
    public var localAddress: String?
    public var remoteAddress: String?
    /// `%CONNECTION_ID%`: unique among the connections this process has taken, in order.
    public var connectionID: UInt64 = 0
    /// The TLS peer, when the client connected over TLS. Its names are read when a record is
    /// filled, not here: a TCP proxy's record starts before the handshake has finished.
    public var security: ConnectionSecurity?
    /// Where an iptables-redirected connection was going (ORIGINAL_DST clusters connect there).
    public var originalDestination: SocketAddress?

    /// Counted across workers: one relaxed increment per connection, none per request.
    private static let connectionsTaken = Atomic<UInt64>(0)

    public init() {}

    /// `originalDestination`, when the listener restored one, is the local address Envoy logs.
    public init(channel: Channel, security: ConnectionSecurity?, originalDestination: SocketAddress? = nil) {
        localAddress = (originalDestination ?? channel.localAddress).flatMap(Self.text)
        remoteAddress = channel.remoteAddress.flatMap(Self.text)
        connectionID = Self.connectionsTaken.add(1, ordering: .relaxed).newValue
        self.security = security
        self.originalDestination = originalDestination
    }

    public func fill(_ record: inout AccessLogRecord) {
        record.downstreamLocalAddress = localAddress
        record.downstreamRemoteAddress = remoteAddress
        record.connectionID = connectionID
        if let security {
            record.requestedServerName = security.requestedServerName
            record.downstreamPeerURISAN = security.peerURIs.first
            record.downstreamLocalURISAN = security.localURI
            record.downstreamTLSVersion = security.tlsVersion
        }
    }

    /// `ip:port`, IPv6 in brackets, as Envoy prints addresses.
    public static func text(_ address: SocketAddress) -> String? {
        guard let ip = address.ipAddress, let port = address.port else { return nil }
        if case .v6 = address { return "[\(ip)]:\(port)" }
        return "\(ip):\(port)"
    }
}
