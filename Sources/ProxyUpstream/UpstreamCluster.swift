// A cluster ready to serve: its config, its hosts by priority and locality, its hash ring, its counters.

import NIOCore
import ProxyConfig

/// An immutable view of one cluster, rebuilt on the control thread whenever its config or its
/// endpoints change and then handed to every worker. What changes per request (outstanding
/// requests, failures, ejections, circuit-breaker counts) lives in `HostState` and
/// `ClusterResources`, which are carried over from the cluster it replaces.
public final class UpstreamCluster: Sendable {
    public struct LocalityGroup: Sendable {
        public let locality: Locality
        public let weight: Int
        public let hosts: [UpstreamHost]
    }

    public struct PriorityLevel: Sendable {
        public let priority: Int
        public let localities: [LocalityGroup]
        public let hosts: [UpstreamHost]
        /// For ring hash: (hash, index into `hosts`), sorted by hash.
        let ring: [(hash: UInt64, host: Int)]
    }

    public let config: ClusterConfig
    public let levels: [PriorityLevel]
    public let resources: ClusterResources
    public var name: String { config.name }
    public var hostCount: Int { levels.reduce(0) { $0 + $1.hosts.count } }
    public let overprovisioningFactor: Int
    /// ORIGINAL_DST only: the hosts made so far for connections' original destinations.
    public let originalDestinations: OriginalDestinationHosts?

    /// Builds the cluster from its config and endpoints, reusing the per-host and per-cluster
    /// state of `previous` for hosts that stay.
    public init(config: ClusterConfig, assignment: LoadAssignment?, previous: UpstreamCluster?) {
        self.config = config
        self.resources = previous?.resources ?? ClusterResources()
        self.overprovisioningFactor = assignment?.overprovisioningFactor ?? 140
        if case .originalDestination = config.discovery {
            originalDestinations = previous?.originalDestinations ?? OriginalDestinationHosts()
        } else {
            originalDestinations = nil
        }
        var previousStates: [SocketAddressConfig: HostState] = [:]
        for level in previous?.levels ?? [] {
            for host in level.hosts { previousStates[host.address] = host.state }
        }
        var byPriority: [Int: [LocalityGroup]] = [:]
        for group in assignment?.localities ?? [] {
            let hosts = group.endpoints.map { endpoint -> UpstreamHost in
                // ProxyConfig admits only IP literals here (it refuses hostnames with a NACK).
                guard let address = try? SocketAddress(ipAddress: endpoint.address.host, port: endpoint.address.port) else {
                    preconditionFailure("endpoint \(endpoint.address) passed validation but is not an IP address")
                }
                let state = previousStates[endpoint.address] ?? HostState()
                // With health checks, a host is not used until its first check passes (Envoy's
                // initial FAILED_ACTIVE_HC): new hosts, and every host when checks were just added.
                if config.healthCheck != nil, previousStates[endpoint.address] == nil || previous?.config.healthCheck == nil {
                    state.failedActiveHealthCheck.store(true, ordering: .relaxed)
                }
                return UpstreamHost(address: endpoint.address, socketAddress: address, weight: endpoint.weight,
                                    locality: group.locality, priority: group.priority, health: endpoint.health,
                                    tlsMode: endpoint.tlsMode, state: state)
            }
            byPriority[group.priority, default: []].append(LocalityGroup(locality: group.locality, weight: group.weight, hosts: hosts))
        }
        levels = byPriority.keys.sorted().map { priority in
            let localities = byPriority[priority]!
            let hosts = localities.flatMap(\.hosts)
            return PriorityLevel(priority: priority, localities: localities, hosts: hosts,
                                 ring: Self.ring(hosts: hosts, policy: config.loadBalancer))
        }
    }

    /// Envoy's ring: each host gets points in proportion to its weight, at least
    /// `minimumRingSize` in all, hashed from "address:port_index".
    static func ring(hosts: [UpstreamHost], policy: ClusterConfig.LoadBalancerPolicy) -> [(hash: UInt64, host: Int)] {
        let minimum: Int
        let maximum: Int
        switch policy {
        case .ringHash(let min, let max): minimum = min; maximum = max
        case .maglev(let size): minimum = size; maximum = size
        default: return []
        }
        guard !hosts.isEmpty else { return [] }
        let totalWeight = hosts.reduce(0) { $0 + $1.weight }
        let scale = min(Double(maximum), max(Double(minimum), Double(hosts.count))) / Double(totalWeight)
        var ring: [(hash: UInt64, host: Int)] = []
        ring.reserveCapacity(Int(scale * Double(totalWeight)) + hosts.count)
        for (index, host) in hosts.enumerated() {
            let points = max(1, Int((scale * Double(host.weight)).rounded()))
            for point in 0..<points {
                ring.append((StableHash.of("\(host.address)_\(point)"), index))
            }
        }
        ring.sort { $0.hash < $1.hash }
        return ring
    }
}

/// FNV-1a, 64 bits: a stable hash for ring positions and request keys (same input, same
/// answer, on every worker and every run).
public enum StableHash {
    public static func of(_ text: String) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        // FNV's low bits mix poorly for short keys; a final avalanche spreads them over the ring.
        hash ^= hash >> 33
        hash = hash &* 0xff51_afd7_ed55_8ccd
        hash ^= hash >> 33
        return hash
    }
}
