// What access logs say about the client connection a request came on, worked out once per connection.

import NIOCore
import Telemetry

/// A connection's addresses and TLS names as access logs print them (`127.0.0.1:9080`).
public struct DownstreamConnectionInfo: Sendable {
    public var localAddress: String?
    public var remoteAddress: String?
    public var requestedServerName: String?
    public var peerURISAN: String?
    public var localURISAN: String?

    public init() {}

    /// `originalDestination`, when the listener restored one, is the local address Envoy logs.
    public init(channel: Channel, security: ConnectionSecurity?, originalDestination: SocketAddress? = nil) {
        localAddress = (originalDestination ?? channel.localAddress).flatMap(Self.text)
        remoteAddress = channel.remoteAddress.flatMap(Self.text)
        requestedServerName = security?.requestedServerName
        peerURISAN = security?.peerURIs.first
        localURISAN = security?.localURI
    }

    public func fill(_ record: inout AccessLogRecord) {
        record.downstreamLocalAddress = localAddress
        record.downstreamRemoteAddress = remoteAddress
        record.requestedServerName = requestedServerName
        record.downstreamPeerURISAN = peerURISAN
        record.downstreamLocalURISAN = localURISAN
    }

    /// `ip:port`, IPv6 in brackets, as Envoy prints addresses.
    public static func text(_ address: SocketAddress) -> String? {
        guard let ip = address.ipAddress, let port = address.port else { return nil }
        if case .v6 = address { return "[\(ip)]:\(port)" }
        return "\(ip):\(port)"
    }
}
