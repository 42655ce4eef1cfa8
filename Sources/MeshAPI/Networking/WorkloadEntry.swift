// WorkloadEntry and WorkloadGroup: workloads that are not Kubernetes pods.

/// `networking.istio.io` WorkloadEntry spec; also the shape of ServiceEntry `endpoints`.
public struct WorkloadEntry: Codable, Hashable, Sendable {
    public var address: String?
    public var ports: [String: UInt32]?
    public var labels: [String: String]?
    public var network: String?
    public var locality: String?
    public var weight: UInt32?
    public var serviceAccount: String?

    public init(address: String? = nil, ports: [String: UInt32]? = nil, labels: [String: String]? = nil,
                serviceAccount: String? = nil) {
        self.address = address
        self.ports = ports
        self.labels = labels
        self.serviceAccount = serviceAccount
    }
}

/// `networking.istio.io` WorkloadGroup spec.
public struct WorkloadGroup: Codable, Hashable, Sendable {
    /// Labels and annotations given to each workload of the group.
    public struct ObjectMeta: Codable, Hashable, Sendable {
        public var labels: [String: String]?
        public var annotations: [String: String]?
    }

    public var metadata: ObjectMeta?
    public var template: WorkloadEntry?
    public var probe: ReadinessProbe?
}

/// How the agent beside a VM workload decides that the workload is ready.
public struct ReadinessProbe: Codable, Hashable, Sendable {
    /// An HTTP GET readiness probe.
    public struct HTTPHealthCheckConfig: Codable, Hashable, Sendable {
        public var path: String?
        public var port: UInt32?
        public var host: String?
        public var scheme: String?
        public var httpHeaders: [HTTPHeader]?
    }

    /// A header sent with an HTTP probe.
    public struct HTTPHeader: Codable, Hashable, Sendable {
        public var name: String?
        public var value: String?
    }

    /// A TCP connect readiness probe.
    public struct TCPHealthCheckConfig: Codable, Hashable, Sendable {
        public var host: String?
        public var port: UInt32?
    }

    /// A readiness probe that runs a command.
    public struct ExecHealthCheckConfig: Codable, Hashable, Sendable {
        public var command: [String]?
    }

    /// A gRPC health-checking-protocol readiness probe.
    public struct GrpcHealthCheckConfig: Codable, Hashable, Sendable {
        public var port: UInt32?
        public var service: String?
    }

    public var initialDelaySeconds: Int32?
    public var timeoutSeconds: Int32?
    public var periodSeconds: Int32?
    public var successThreshold: Int32?
    public var failureThreshold: Int32?
    public var httpGet: HTTPHealthCheckConfig?
    public var tcpSocket: TCPHealthCheckConfig?
    public var exec: ExecHealthCheckConfig?
    public var grpc: GrpcHealthCheckConfig?
}
