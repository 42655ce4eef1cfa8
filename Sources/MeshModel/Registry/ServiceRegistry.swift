// The service registry of the embedded mesh: services and endpoints from ServiceEntries and WorkloadEntries.

import MeshAPI

/// A service the mesh routes to: one host of a ServiceEntry.
public struct MeshService: Hashable, Sendable {
    public struct Port: Hashable, Sendable {
        public var name: String
        public var number: UInt32
        /// Istio's protocol name in its canonical spelling (`HTTP`, `GRPC`, `TCP`); empty when
        /// the ServiceEntry leaves it unset (protocol detection).
        public var protocolName: String
        /// Where endpoints listen when they do not say: `targetPort`, else `number`.
        public var targetPort: UInt32
    }

    public var hostname: String
    public var namespace: String
    public var ports: [Port]
    public var location: ServiceEntry.Location
    public var resolution: ServiceEntry.Resolution
    public var addresses: [String]
    /// Namespaces that see the service (`*` for all, `.` resolved to the service's own).
    public var exportTo: [String]
    public var subjectAltNames: [String]
    /// The ServiceEntry that defines it.
    public var source: ResourceReference
}

/// One address (and port) of a service's port.
public struct MeshEndpoint: Hashable, Sendable {
    public var hostname: String
    public var servicePort: UInt32
    public var address: String
    public var port: UInt32
    public var labels: [String: String]
    public var serviceAccount: String?
    public var locality: String?
    public var weight: UInt32
    public var network: String?
    /// The WorkloadEntry it came from, when a workload selector chose it.
    public var workload: ResourceReference?
}

/// A workload outside Kubernetes, from a WorkloadEntry.
public struct Workload: Hashable, Sendable {
    public var name: String
    public var namespace: String
    public var address: String
    public var labels: [String: String]
    public var serviceAccount: String
    public var locality: String?
    public var weight: UInt32
    public var network: String?
    public var ports: [String: UInt32]
}

/// Services, their endpoints and the workloads behind them, built from valid resources.
/// A value: a new registry is built for each configuration version.
public struct ServiceRegistry: Hashable, Sendable {
    /// Ordered by hostname, then namespace.
    public private(set) var services: [MeshService] = []
    /// Endpoints by hostname, ordered by service port, address and port.
    public private(set) var endpoints: [String: [MeshEndpoint]] = [:]
    /// Ordered by namespace, then name.
    public private(set) var workloads: [Workload] = []
    /// "namespace\u{0}address" → index of the first workload there: every proxy's identification
    /// looks its workload up.
    private var workloadByAddress: [String: Int] = [:]
    /// WorkloadEntry → the hostnames whose endpoints it backs, ordered: a sidecar's inbound
    /// ports are those, and looking them up must not cost the whole registry.
    private var hostnamesByWorkload: [ResourceReference: [String]] = [:]

    public init() {}

    public init(resources: [MeshResource]) {
        for resource in resources {
            guard case .workloadEntry(let entry) = resource.spec, let address = entry.address, !address.isEmpty else { continue }
            workloads.append(Workload(
                name: resource.name, namespace: resource.namespace, address: address, labels: entry.labels ?? [:],
                serviceAccount: entry.serviceAccount.flatMap { $0.isEmpty ? nil : $0 } ?? "default",
                locality: entry.locality, weight: Self.weight(entry.weight), network: entry.network, ports: entry.ports ?? [:]))
        }
        workloads.sort { ($0.namespace, $0.name) < ($1.namespace, $1.name) }
        for (index, workload) in workloads.enumerated() where workloadByAddress["\(workload.namespace)\u{0}\(workload.address)"] == nil {
            workloadByAddress["\(workload.namespace)\u{0}\(workload.address)"] = index
        }
        for resource in resources {
            guard case .serviceEntry(let entry) = resource.spec else { continue }
            add(entry, from: resource)
        }
        services.sort { ($0.hostname, $0.namespace) < ($1.hostname, $1.namespace) }
        for hostname in endpoints.keys {
            endpoints[hostname]?.sort { ($0.servicePort, $0.address, $0.port) < ($1.servicePort, $1.address, $1.port) }
        }
        for (hostname, list) in endpoints {
            for workload in Set(list.compactMap(\.workload)) { hostnamesByWorkload[workload, default: []].append(hostname) }
        }
        for workload in hostnamesByWorkload.keys { hostnamesByWorkload[workload]!.sort() }
    }

    /// The workload a proxy runs beside: the WorkloadEntry in its namespace with its address,
    /// as Istio identifies proxies outside Kubernetes.
    public func workload(address: String, namespace: String) -> Workload? {
        workloadByAddress["\(namespace)\u{0}\(address)"].map { workloads[$0] }
    }

    /// The services with endpoints on a WorkloadEntry, ordered by hostname then namespace.
    public func services(backedBy workload: ResourceReference) -> [MeshService] {
        (hostnamesByWorkload[workload] ?? []).flatMap { services(named: $0) }
    }

    /// The services with this hostname (one per namespace defining it); a binary search, since
    /// `services` is ordered by hostname.
    public func services(named hostname: String) -> [MeshService] {
        var low = 0
        var high = services.count
        while low < high {
            let middle = (low + high) / 2
            if services[middle].hostname < hostname { low = middle + 1 } else { high = middle }
        }
        var end = low
        while end < services.count && services[end].hostname == hostname { end += 1 }
        return Array(services[low..<end])
    }

    private mutating func add(_ entry: ServiceEntry, from resource: MeshResource) {
        let ports = (entry.ports ?? []).compactMap { port -> MeshService.Port? in
            guard let number = port.number, let name = port.name else { return nil }
            let protocolName = port.protocolName.map { ProtocolName.canonicalName($0) ?? $0 } ?? ""
            return MeshService.Port(name: name, number: number, protocolName: protocolName, targetPort: port.targetPort.flatMap { $0 == 0 ? nil : $0 } ?? number)
        }
        let exportTo = (entry.exportTo ?? ["*"]).map { $0 == "." ? resource.namespace : $0 }
        let resolution = entry.resolution ?? .NONE
        for hostname in entry.hosts ?? [] {
            services.append(MeshService(
                hostname: hostname, namespace: resource.namespace, ports: ports, location: entry.location ?? .MESH_EXTERNAL,
                resolution: resolution, addresses: entry.addresses ?? [], exportTo: exportTo,
                subjectAltNames: entry.subjectAltNames ?? [], source: resource.reference))
            endpoints[hostname, default: []] += endpointsOf(entry, hostname: hostname, ports: ports, resolution: resolution, namespace: resource.namespace)
        }
    }

    private func endpointsOf(_ entry: ServiceEntry, hostname: String, ports: [MeshService.Port],
                             resolution: ServiceEntry.Resolution, namespace: String) -> [MeshEndpoint] {
        var found: [MeshEndpoint] = []
        if let selector = entry.workloadSelector {
            // Selected workloads are those of the ServiceEntry's namespace whose labels hold the selector's.
            let wanted = selector.labels ?? [:]
            for workload in workloads where workload.namespace == namespace && wanted.allSatisfy({ workload.labels[$0.key] == $0.value }) {
                for port in ports {
                    found.append(MeshEndpoint(
                        hostname: hostname, servicePort: port.number, address: workload.address,
                        port: workload.ports[port.name] ?? port.targetPort, labels: workload.labels,
                        serviceAccount: workload.serviceAccount, locality: workload.locality, weight: workload.weight,
                        network: workload.network, workload: ResourceReference(kind: "WorkloadEntry", namespace: workload.namespace, name: workload.name)))
                }
            }
        } else if let inline = entry.endpoints, !inline.isEmpty {
            for endpoint in inline {
                guard let address = endpoint.address, !address.isEmpty else { continue }
                for port in ports {
                    found.append(MeshEndpoint(
                        hostname: hostname, servicePort: port.number, address: address,
                        port: endpoint.ports?[port.name] ?? port.targetPort, labels: endpoint.labels ?? [:],
                        serviceAccount: endpoint.serviceAccount, locality: endpoint.locality, weight: Self.weight(endpoint.weight),
                        network: endpoint.network, workload: nil))
                }
            }
        } else if resolution == .DNS || resolution == .DNS_ROUND_ROBIN {
            // Without endpoints, a DNS service's own name is its endpoint, resolved by the proxy.
            for port in ports {
                found.append(MeshEndpoint(hostname: hostname, servicePort: port.number, address: hostname, port: port.targetPort,
                                          labels: [:], serviceAccount: nil, locality: nil, weight: 1, network: nil, workload: nil))
            }
        }
        return found
    }

    /// Istio gives a weight of 0 (unset) the default of 1.
    private static func weight(_ weight: UInt32?) -> UInt32 {
        guard let weight, weight > 0 else { return 1 }
        return weight
    }
}
