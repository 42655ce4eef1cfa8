// ServiceEntry: a service added to the mesh's registry (how the embedded mesh registers workloads).

/// `networking.istio.io` ServiceEntry spec.
public struct ServiceEntry: Codable, Hashable, Sendable {
    /// Whether a service is part of the mesh (with sidecars) or outside it.
    public enum Location: String, ConfigEnum {
        case MESH_EXTERNAL, MESH_INTERNAL
    }

    /// How a service's endpoint addresses are found.
    public enum Resolution: String, ConfigEnum {
        case NONE, STATIC, DNS, DNS_ROUND_ROBIN, DYNAMIC_DNS
    }

    public var hosts: [String]?
    public var addresses: [String]?
    public var ports: [ServicePort]?
    public var location: Location?
    public var resolution: Resolution?
    public var endpoints: [WorkloadEntry]?
    public var workloadSelector: WorkloadSelector?
    public var exportTo: [String]?
    public var subjectAltNames: [String]?

    public init(hosts: [String]? = nil, ports: [ServicePort]? = nil, location: Location? = nil,
                resolution: Resolution? = nil, endpoints: [WorkloadEntry]? = nil) {
        self.hosts = hosts
        self.ports = ports
        self.location = location
        self.resolution = resolution
        self.endpoints = endpoints
    }
}

/// A ServiceEntry port has the same fields as a Gateway or Sidecar port.
public typealias ServicePort = Port
