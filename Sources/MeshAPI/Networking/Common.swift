// Networking types several Istio kinds share: destinations, matches, headers, ports, pools, TLS.

/// A percentage, written `{value: 12.5}`.
public struct Percent: Codable, Hashable, Sendable {
    public var value: Double?
    public init(value: Double? = nil) { self.value = value }
}

/// A service (and optional subset and port) that traffic is sent to.
public struct Destination: Codable, Hashable, Sendable {
    public var host: String?
    public var subset: String?
    public var port: PortSelector?
    public init(host: String? = nil, subset: String? = nil, port: PortSelector? = nil) {
        self.host = host
        self.subset = subset
        self.port = port
    }
}

/// A port of a service, by number.
public struct PortSelector: Codable, Hashable, Sendable {
    public var number: UInt32?
    public init(number: UInt32? = nil) { self.number = number }
}

/// Exactly one of `exact`, `prefix`, `regex` (RE2); an empty match tests presence.
public struct StringMatch: Codable, Hashable, Sendable {
    public var exact: String?
    public var prefix: String?
    public var regex: String?
    public init(exact: String? = nil, prefix: String? = nil, regex: String? = nil) {
        self.exact = exact
        self.prefix = prefix
        self.regex = regex
    }
}

/// Header edits for requests and responses.
public struct Headers: Codable, Hashable, Sendable {
    /// Headers to set, add or remove.
    public struct HeaderOperations: Codable, Hashable, Sendable {
        public var set: [String: String]?
        public var add: [String: String]?
        public var remove: [String]?
    }

    public var request: HeaderOperations?
    public var response: HeaderOperations?
}

/// Selects workloads by label (`labels`), as Sidecar, ServiceEntry and Gateway-less kinds use it.
public struct WorkloadSelector: Codable, Hashable, Sendable {
    public var labels: [String: String]?
    public init(labels: [String: String]? = nil) { self.labels = labels }
}

/// `istio.type.v1beta1.WorkloadSelector`: selects workloads by `matchLabels` (policies,
/// DestinationRule, Telemetry).
public struct LabelSelector: Codable, Hashable, Sendable {
    public var matchLabels: [String: String]?
    public init(matchLabels: [String: String]? = nil) { self.matchLabels = matchLabels }
}

/// `istio.type.v1beta1.PolicyTargetReference`: attaches a policy to a Gateway API resource.
public struct PolicyTargetReference: Codable, Hashable, Sendable {
    public var group: String?
    public var kind: String?
    public var name: String?
    public var namespace: String?
}

/// A port as Gateway servers, Sidecar listeners and ServiceEntries declare it.
public struct Port: Codable, Hashable, Sendable {
    public var number: UInt32?
    public var protocolName: String?
    public var name: String?
    /// The endpoint port for a ServiceEntry; deprecated (and rejected) on Gateways and Sidecars.
    public var targetPort: UInt32?

    enum CodingKeys: String, CodingKey {
        case number
        case protocolName = "protocol"
        case name
        case targetPort
    }

    public init(number: UInt32? = nil, protocolName: String? = nil, name: String? = nil, targetPort: UInt32? = nil) {
        self.number = number
        self.protocolName = protocolName
        self.name = name
        self.targetPort = targetPort
    }
}

/// Connection limits toward a service (DestinationRule) or into a workload (Sidecar).
public struct ConnectionPoolSettings: Codable, Hashable, Sendable {
    /// Limits on TCP connections.
    public struct TCPSettings: Codable, Hashable, Sendable {
        /// TCP keepalive probing of idle connections.
        public struct TcpKeepalive: Codable, Hashable, Sendable {
            public var probes: UInt32?
            public var time: ProtoDuration?
            public var interval: ProtoDuration?
        }

        public var maxConnections: Int32?
        public var connectTimeout: ProtoDuration?
        public var tcpKeepalive: TcpKeepalive?
        public var maxConnectionDuration: ProtoDuration?
        public var idleTimeout: ProtoDuration?
    }

    /// Limits on HTTP requests and connection reuse.
    public struct HTTPSettings: Codable, Hashable, Sendable {
        /// Whether HTTP/1.1 connections to services are upgraded to HTTP/2.
        public enum H2UpgradePolicy: String, ConfigEnum {
            case DEFAULT, DO_NOT_UPGRADE, UPGRADE
        }

        public var http1MaxPendingRequests: Int32?
        public var http2MaxRequests: Int32?
        public var maxRequestsPerConnection: Int32?
        public var maxRetries: Int32?
        public var idleTimeout: ProtoDuration?
        public var h2UpgradePolicy: H2UpgradePolicy?
        public var useClientProtocol: Bool?
        public var maxConcurrentStreams: Int32?
        public var http2KeepAlive: HTTP2KeepAlive?
    }

    /// HTTP/2 PING keepalive toward the upstream.
    public struct HTTP2KeepAlive: Codable, Hashable, Sendable {
        public var interval: ProtoDuration?
        public var timeout: ProtoDuration?
    }

    public var tcp: TCPSettings?
    public var http: HTTPSettings?
}

/// TLS settings of a server (Gateway server, Sidecar ingress listener).
public struct ServerTLSSettings: Codable, Hashable, Sendable {
    /// How TLS is used.
    public enum TLSMode: String, ConfigEnum {
        case PASSTHROUGH, SIMPLE, MUTUAL, AUTO_PASSTHROUGH, ISTIO_MUTUAL, OPTIONAL_MUTUAL
    }

    /// A TLS protocol version.
    public enum TLSProtocol: String, ConfigEnum {
        case TLS_AUTO, TLSV1_0, TLSV1_1, TLSV1_2, TLSV1_3
    }

    /// One server certificate with its key (and CA for client certificates).
    public struct TLSCertificate: Codable, Hashable, Sendable {
        public var serverCertificate: String?
        public var privateKey: String?
        public var caCertificates: String?
    }

    public var httpsRedirect: Bool?
    public var mode: TLSMode?
    public var serverCertificate: String?
    public var privateKey: String?
    public var caCertificates: String?
    public var caCrl: String?
    public var credentialName: String?
    public var credentialNames: [String]?
    public var tlsCertificates: [TLSCertificate]?
    public var subjectAltNames: [String]?
    public var verifyCertificateSpki: [String]?
    public var verifyCertificateHash: [String]?
    public var minProtocolVersion: TLSProtocol?
    public var maxProtocolVersion: TLSProtocol?
    public var cipherSuites: [String]?
}
