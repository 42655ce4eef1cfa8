// DestinationRule: policies for traffic to a service after routing (subsets, load balancing,
// connection pools, outlier detection, client TLS).

/// `networking.istio.io` DestinationRule spec.
public struct DestinationRule: Codable, Hashable, Sendable {
    public var host: String?
    public var trafficPolicy: TrafficPolicy?
    public var subsets: [Subset]?
    public var exportTo: [String]?
    public var workloadSelector: LabelSelector?

    public init(host: String? = nil, trafficPolicy: TrafficPolicy? = nil, subsets: [Subset]? = nil) {
        self.host = host
        self.trafficPolicy = trafficPolicy
        self.subsets = subsets
    }
}

public struct Subset: Codable, Hashable, Sendable {
    public var name: String?
    public var labels: [String: String]?
    public var trafficPolicy: TrafficPolicy?

    public init(name: String? = nil, labels: [String: String]? = nil) {
        self.name = name
        self.labels = labels
    }
}

public struct TrafficPolicy: Codable, Hashable, Sendable {
    public struct PortTrafficPolicy: Codable, Hashable, Sendable {
        public var port: PortSelector?
        public var loadBalancer: LoadBalancerSettings?
        public var connectionPool: ConnectionPoolSettings?
        public var outlierDetection: OutlierDetection?
        public var tls: ClientTLSSettings?
    }

    public struct TunnelSettings: Codable, Hashable, Sendable {
        public var `protocol`: String?
        public var targetHost: String?
        public var targetPort: UInt32?
    }

    public struct ProxyProtocol: Codable, Hashable, Sendable {
        public enum Version: String, ConfigEnum {
            case V1, V2
        }

        public var version: Version?
    }

    public struct RetryBudget: Codable, Hashable, Sendable {
        public var percent: Double?
        public var minRetryConcurrency: UInt32?
        public var budgetInterval: ProtoDuration?
    }

    public var loadBalancer: LoadBalancerSettings?
    public var connectionPool: ConnectionPoolSettings?
    public var outlierDetection: OutlierDetection?
    public var tls: ClientTLSSettings?
    public var portLevelSettings: [PortTrafficPolicy]?
    public var tunnel: TunnelSettings?
    public var proxyProtocol: ProxyProtocol?
    public var retryBudget: RetryBudget?

    public init(loadBalancer: LoadBalancerSettings? = nil, tls: ClientTLSSettings? = nil) {
        self.loadBalancer = loadBalancer
        self.tls = tls
    }
}

public struct LoadBalancerSettings: Codable, Hashable, Sendable {
    public enum SimpleLB: String, ConfigEnum {
        case UNSPECIFIED
        /// Deprecated in Istio (use LEAST_REQUEST); accepted.
        case LEAST_CONN
        case RANDOM, PASSTHROUGH, ROUND_ROBIN, LEAST_REQUEST
    }

    public struct ConsistentHashLB: Codable, Hashable, Sendable {
        public struct HTTPCookie: Codable, Hashable, Sendable {
            public var name: String?
            public var path: String?
            public var ttl: ProtoDuration?
        }

        public struct RingHash: Codable, Hashable, Sendable {
            public var minimumRingSize: UInt64?
        }

        public struct MagLev: Codable, Hashable, Sendable {
            public var tableSize: UInt64?
        }

        public var httpHeaderName: String?
        public var httpCookie: HTTPCookie?
        public var useSourceIp: Bool?
        public var httpQueryParameterName: String?
        public var ringHash: RingHash?
        public var maglev: MagLev?
        /// Deprecated in Istio (use `ringHash.minimumRingSize`); accepted.
        public var minimumRingSize: UInt64?
    }

    public struct WarmupConfiguration: Codable, Hashable, Sendable {
        public var duration: ProtoDuration?
        public var minimumPercent: Double?
        public var aggression: Double?
    }

    public var simple: SimpleLB?
    public var consistentHash: ConsistentHashLB?
    public var localityLbSetting: LocalityLoadBalancerSetting?
    /// Deprecated in Istio (use `warmup`); accepted.
    public var warmupDurationSecs: ProtoDuration?
    public var warmup: WarmupConfiguration?

    public init(simple: SimpleLB? = nil) { self.simple = simple }
}

public struct LocalityLoadBalancerSetting: Codable, Hashable, Sendable {
    public struct Distribute: Codable, Hashable, Sendable {
        public var from: String?
        public var to: [String: UInt32]?
    }

    public struct Failover: Codable, Hashable, Sendable {
        public var from: String?
        public var to: String?
    }

    public var distribute: [Distribute]?
    public var failover: [Failover]?
    public var failoverPriority: [String]?
    public var enabled: Bool?
}

public struct OutlierDetection: Codable, Hashable, Sendable {
    /// Deprecated in Istio (use `consecutive5xxErrors`); accepted.
    public var consecutiveErrors: Int32?
    public var splitExternalLocalOriginErrors: Bool?
    public var consecutiveLocalOriginFailures: UInt32?
    public var consecutiveGatewayErrors: UInt32?
    public var consecutive5xxErrors: UInt32?
    public var interval: ProtoDuration?
    public var baseEjectionTime: ProtoDuration?
    public var maxEjectionPercent: Int32?
    public var minHealthPercent: Int32?
}

/// TLS a client side originates toward a service.
public struct ClientTLSSettings: Codable, Hashable, Sendable {
    public enum TLSMode: String, ConfigEnum {
        case DISABLE, SIMPLE, MUTUAL, ISTIO_MUTUAL
    }

    public var mode: TLSMode?
    public var clientCertificate: String?
    public var privateKey: String?
    public var caCertificates: String?
    public var credentialName: String?
    public var subjectAltNames: [String]?
    public var sni: String?
    public var insecureSkipVerify: Bool?
    public var caCrl: String?

    public init(mode: TLSMode? = nil) { self.mode = mode }
}
