// Sidecar: what one workload's proxy listens on and which services it can reach.

/// `networking.istio.io` Sidecar spec.
public struct Sidecar: Codable, Hashable, Sendable {
    /// How traffic reaches a listener: iptables capture or an explicit bind.
    public enum CaptureMode: String, ConfigEnum {
        case DEFAULT, IPTABLES, NONE
    }

    public var workloadSelector: WorkloadSelector?
    public var ingress: [IstioIngressListener]?
    public var egress: [IstioEgressListener]?
    public var inboundConnectionPool: ConnectionPoolSettings?
    public var outboundTrafficPolicy: OutboundTrafficPolicy?

    public init(workloadSelector: WorkloadSelector? = nil, ingress: [IstioIngressListener]? = nil,
                egress: [IstioEgressListener]? = nil) {
        self.workloadSelector = workloadSelector
        self.ingress = ingress
        self.egress = egress
    }
}

/// A listener for traffic into the workload, forwarded to `defaultEndpoint`.
public struct IstioIngressListener: Codable, Hashable, Sendable {
    public var port: Port?
    public var bind: String?
    public var captureMode: Sidecar.CaptureMode?
    public var defaultEndpoint: String?
    public var tls: ServerTLSSettings?
    public var connectionPool: ConnectionPoolSettings?

    public init(port: Port? = nil, bind: String? = nil, captureMode: Sidecar.CaptureMode? = nil, defaultEndpoint: String? = nil) {
        self.port = port
        self.bind = bind
        self.captureMode = captureMode
        self.defaultEndpoint = defaultEndpoint
    }
}

/// A listener for the workload's outbound traffic, limited to `hosts`.
public struct IstioEgressListener: Codable, Hashable, Sendable {
    public var port: Port?
    public var bind: String?
    public var captureMode: Sidecar.CaptureMode?
    public var hosts: [String]?

    public init(port: Port? = nil, bind: String? = nil, captureMode: Sidecar.CaptureMode? = nil, hosts: [String]? = nil) {
        self.port = port
        self.bind = bind
        self.captureMode = captureMode
        self.hosts = hosts
    }
}

/// Whether a proxy may reach hosts outside the registry.
public struct OutboundTrafficPolicy: Codable, Hashable, Sendable {
    /// The mode of this setting.
    public enum Mode: String, ConfigEnum {
        case REGISTRY_ONLY, ALLOW_ANY
    }

    public var mode: Mode?
    public var egressProxy: Destination?

    public init(mode: Mode? = nil) { self.mode = mode }
}
