// Gateway: a load balancer at the edge of the mesh and the servers (ports, hosts, TLS) it exposes.

/// `networking.istio.io` Gateway spec.
public struct Gateway: Codable, Hashable, Sendable {
    public var servers: [Server]?
    public var selector: [String: String]?

    public init(servers: [Server]? = nil, selector: [String: String]? = nil) {
        self.servers = servers
        self.selector = selector
    }
}

/// A port a Gateway listens on, with the hosts it serves and its TLS settings.
public struct Server: Codable, Hashable, Sendable {
    public var port: Port?
    public var bind: String?
    public var hosts: [String]?
    public var tls: ServerTLSSettings?
    public var defaultEndpoint: String?
    public var name: String?

    public init(port: Port? = nil, hosts: [String]? = nil) {
        self.port = port
        self.hosts = hosts
    }
}
