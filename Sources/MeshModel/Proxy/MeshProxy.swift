// A connected proxy as configuration is generated for it: its node ID, workload and metadata.

/// A proxy and the workload it runs beside. Built from the node ID and metadata a proxy sends
/// on its xDS stream, completed from the registry's WorkloadEntry at the proxy's address.
public struct MeshProxy: Hashable, Sendable {
    /// Whether traffic reaches the proxy through iptables capture (Istio's `INTERCEPTION_MODE`).
    public enum InterceptionMode: String, Hashable, Sendable {
        /// No capture: listeners bind to explicit addresses (the embedded default).
        case none = "NONE"
        /// iptables capture: the 15001/15006 virtual listeners exist.
        case redirect = "REDIRECT"
    }

    public var id: ProxyNodeID
    public var namespace: String
    public var labels: [String: String]
    public var serviceAccount: String
    public var locality: String?
    public var interceptionMode: InterceptionMode
    /// The WorkloadEntry at the proxy's address, when there is one.
    public var workload: Workload?
    /// Whether the proxy has a workload identity: an agent serves it certificates over SDS
    /// (node metadata `WORKLOAD_IDENTITY: SDS`). Only then does it get mTLS configuration.
    public var hasIdentity = false
    /// The proxy program, from the node's `user_agent_name`: what it accepts beyond stock Envoy.
    public var dataPlane: DataPlane = .envoy

    /// Which proxy program is on the stream. Envoy names itself `envoy`; meshproxy `meshproxy`.
    /// Anything else is treated as Envoy: configuration a stock Envoy accepts.
    public enum DataPlane: String, Hashable, Sendable {
        case envoy
        /// Also speaks Istio's TCP metadata exchange (istio-proxy's `istio.metadata_exchange`),
        /// which stock Envoy lacks.
        case meshproxy

        public init(userAgentName: String) {
            self = userAgentName == DataPlane.meshproxy.rawValue ? .meshproxy : .envoy
        }
    }

    public init(id: ProxyNodeID, namespace: String, labels: [String: String], serviceAccount: String,
                locality: String? = nil, interceptionMode: InterceptionMode = .none, workload: Workload? = nil) {
        self.id = id
        self.namespace = namespace
        self.labels = labels
        self.serviceAccount = serviceAccount
        self.locality = locality
        self.interceptionMode = interceptionMode
        self.workload = workload
    }

    /// The proxy as Istio identifies it outside Kubernetes: the workload is the WorkloadEntry in
    /// the node's namespace whose address is the node's IP; metadata `NAMESPACE`, `LABELS` and
    /// `SERVICE_ACCOUNT` (and the node's locality) override what the workload says;
    /// `INTERCEPTION_MODE` defaults to NONE.
    public init(id: ProxyNodeID, metadata: ProxyMetadata, registry: ServiceRegistry) {
        let namespace = metadata.namespace ?? id.namespace
        let workload = registry.workload(address: id.ip, namespace: namespace)
        self.init(
            id: id, namespace: namespace,
            labels: metadata.labels ?? workload?.labels ?? [:],
            serviceAccount: metadata.serviceAccount ?? workload?.serviceAccount ?? "default",
            locality: metadata.locality ?? workload?.locality,
            interceptionMode: metadata.interceptionMode ?? .none,
            workload: workload)
        self.hasIdentity = metadata.hasIdentity
        self.dataPlane = metadata.dataPlane
    }

    /// The proxy's instance address: where its inbound listeners bind and its upstream
    /// connections come from.
    public var address: String { id.ip }
}

/// The node metadata fields SwiftMesh reads, as Istio's proxies send them.
public struct ProxyMetadata: Hashable, Sendable {
    public var namespace: String?
    public var labels: [String: String]?
    public var serviceAccount: String?
    public var interceptionMode: MeshProxy.InterceptionMode?
    /// `region/zone/subzone` from the node's `locality`, as Envoy reports where it runs.
    public var locality: String?
    /// `WORKLOAD_IDENTITY: SDS`: the proxy's certificates come from its agent over SDS.
    public var hasIdentity = false
    /// The node's `user_agent_name`, read as a proxy program.
    public var dataPlane: MeshProxy.DataPlane = .envoy

    public init(namespace: String? = nil, labels: [String: String]? = nil, serviceAccount: String? = nil,
                interceptionMode: MeshProxy.InterceptionMode? = nil, locality: String? = nil) {
        self.namespace = namespace
        self.labels = labels
        self.serviceAccount = serviceAccount
        self.interceptionMode = interceptionMode
        self.locality = locality
    }
}
