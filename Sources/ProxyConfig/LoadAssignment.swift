// A cluster's endpoints by priority and locality, as EDS or a static cluster gives them.

import EnvoyAPI

public struct Locality: Sendable, Hashable, CustomStringConvertible {
    public var region: String
    public var zone: String
    public var subZone: String

    public init(region: String = "", zone: String = "", subZone: String = "") {
        self.region = region
        self.zone = zone
        self.subZone = subZone
    }

    public var description: String { [region, zone, subZone].joined(separator: "/") }
}

public struct EndpointConfig: Sendable, Hashable {
    public enum Health: Sendable { case healthy, unhealthy, draining, degraded }
    public var address: SocketAddressConfig
    public var weight: Int
    public var health: Health
    /// `tlsMode` from the endpoint's transport-socket-match metadata (Istio's `istio` or `disabled`).
    public var tlsMode: String?
}

public struct LocalityEndpoints: Sendable {
    public var locality: Locality
    public var priority: Int
    public var weight: Int
    public var endpoints: [EndpointConfig]
}

public struct LoadAssignment: Sendable {
    public var clusterName: String
    public var localities: [LocalityEndpoints]
    /// Envoy's overprovisioning factor, in percent (default 140).
    public var overprovisioningFactor: Int

    public init(clusterName: String, localities: [LocalityEndpoints], overprovisioningFactor: Int = 140) {
        self.clusterName = clusterName
        self.localities = localities
        self.overprovisioningFactor = overprovisioningFactor
    }

    /// `requireAddresses`: endpoints must be IP addresses (EDS and STATIC); a STRICT_DNS cluster
    /// checks its names itself.
    public init(proto: Envoy_Config_Endpoint_V3_ClusterLoadAssignment, at path: String? = nil, requireAddresses: Bool = true) throws {
        let path = path ?? "endpoints[\(proto.clusterName)]"
        var rest = proto
        clusterName = proto.clusterName
        rest.clusterName = ""
        localities = try proto.endpoints.enumerated().map { index, group in
            let groupPath = "\(path).endpoints[\(index)]"
            var groupRest = group
            groupRest.clearLocality()
            groupRest.lbEndpoints = []
            groupRest.clearLoadBalancingWeight()
            groupRest.priority = 0
            groupRest.clearMetadata()
            try requireNothingElse(groupRest, at: groupPath)
            let endpoints = try group.lbEndpoints.enumerated().map { endpointIndex, lbEndpoint in
                try Self.endpoint(lbEndpoint, at: "\(groupPath).lb_endpoints[\(endpointIndex)]", requireAddress: requireAddresses)
            }
            return LocalityEndpoints(
                locality: Locality(region: group.locality.region, zone: group.locality.zone, subZone: group.locality.subZone),
                priority: Int(group.priority),
                weight: group.hasLoadBalancingWeight ? Int(group.loadBalancingWeight.value) : 1,
                endpoints: endpoints)
        }
        rest.endpoints = []
        overprovisioningFactor = proto.hasPolicy && proto.policy.hasOverprovisioningFactor ? Int(proto.policy.overprovisioningFactor.value) : 140
        if proto.hasPolicy {
            var policyRest = proto.policy
            policyRest.clearOverprovisioningFactor()
            try requireNothingElse(policyRest, at: path + ".policy")
        }
        rest.clearPolicy()
        try requireNothingElse(rest, at: path)
    }

    static func endpoint(_ proto: Envoy_Config_Endpoint_V3_LbEndpoint, at path: String, requireAddress: Bool) throws -> EndpointConfig {
        guard case .endpoint(let endpoint)? = proto.hostIdentifier else {
            throw ProxyConfigError(path, "needs an endpoint")
        }
        var endpointRest = endpoint
        endpointRest.clearAddress()
        endpointRest.hostname = ""
        endpointRest.clearHealthCheckConfig()
        try requireNothingElse(endpointRest, at: path + ".endpoint")
        let health: EndpointConfig.Health
        switch proto.healthStatus {
        case .unknown, .healthy: health = .healthy
        case .unhealthy, .timeout: health = .unhealthy
        case .draining: health = .draining
        case .degraded: health = .degraded
        case .UNRECOGNIZED: health = .healthy
        }
        var tlsMode: String?
        if let fields = proto.metadata.filterMetadata["envoy.transport_socket_match"]?.fields,
           case .stringValue(let mode)? = fields["tlsMode"]?.kind {
            tlsMode = mode
        }
        let address = try SocketAddressConfig(proto: endpoint.address, at: path + ".endpoint.address")
        if requireAddress, !isIPAddress(address.host) {
            throw ProxyConfigError(path + ".endpoint.address.socket_address.address", "\"\(address.host)\" is not an IP address")
        }
        return EndpointConfig(address: address,
                              weight: proto.hasLoadBalancingWeight ? max(1, Int(proto.loadBalancingWeight.value)) : 1,
                              health: health, tlsMode: tlsMode)
    }
}
