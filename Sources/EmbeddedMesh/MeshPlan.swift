// The embedded networking contract made concrete: addresses, ports and Istio resources per workload.

import Foundation

/// A workload to run in the embedded mesh: an app process and its sidecar.
public struct WorkloadSpec: Sendable, Codable, Equatable {
    public var name: String
    public var namespace: String
    /// The service the workload backs (its ServiceEntry's short name).
    public var service: String
    public var labels: [String: String]
    public var serviceAccount: String
    /// The service port callers use (the sidecar's inbound listener port).
    public var port: Int
    public var protocolName: String
    /// The app's command line; `{port}` is replaced by the app's allocated port.
    public var command: [String]
    public var environment: [String: String]
    /// Where the app serves its own Prometheus metrics on its port (Istio's `prometheus.io/path`
    /// annotation): a meshproxy sidecar merges them into its `:15020/stats/prometheus`.
    public var metricsPath: String?

    public init(name: String, namespace: String = "default", service: String, labels: [String: String] = [:],
                serviceAccount: String? = nil, port: Int = 9080, protocolName: String = "HTTP",
                command: [String], environment: [String: String] = [:], metricsPath: String? = nil) {
        self.name = name
        self.namespace = namespace
        self.service = service
        // Every planned workload runs a mesh proxy with an identity agent: Istio's tlsMode label
        // tells clients they may speak mTLS to it.
        self.labels = labels.merging(["app": service, MeshPlan.workloadLabel: name, "security.istio.io/tlsMode": "istio"]) { mine, _ in mine }
        self.serviceAccount = serviceAccount ?? service
        self.port = port
        self.protocolName = protocolName
        self.command = command
        self.environment = environment
        self.metricsPath = metricsPath
    }
}

/// Where one workload lives: DESIGN.md's embedded contract. The sidecar's inbound listener and
/// admin bind the instance address; its outbound listeners bind the egress address; the app
/// listens on 127.0.0.1 at an allocated port.
public struct PlacedWorkload: Sendable, Codable, Equatable {
    public var spec: WorkloadSpec
    public var instanceAddress: String
    public var egressAddress: String
    public var appPort: Int
    public var adminPort: Int
    public var baseID: Int

    public var nodeID: String {
        "sidecar~\(instanceAddress)~\(spec.name).\(spec.namespace)~\(spec.namespace).svc.cluster.local"
    }
}

/// Every workload of a mesh placed, and the Istio resources that register them.
public struct MeshPlan: Sendable, Codable, Equatable {
    public var workloads: [PlacedWorkload]

    /// Places workloads in `subnet` (`127.N`): instance addresses `127.N.1.i`, egress addresses
    /// `127.N.2.i`; app ports from `appPorts` (one per workload, in order); Envoy base IDs from
    /// `baseID` up.
    public init(_ specs: [WorkloadSpec], subnet: String, appPorts: [Int], baseID: Int) {
        workloads = specs.enumerated().map { index, spec in
            PlacedWorkload(spec: spec, instanceAddress: "\(subnet).1.\(index + 1)", egressAddress: "\(subnet).2.\(index + 1)",
                           appPort: appPorts[index], adminPort: 15000, baseID: baseID + index)
        }
    }

    /// ServiceEntry per service (selecting its workloads), WorkloadEntry and Sidecar per workload,
    /// and a WorkloadEntry for the ingress gateway (its identity comes from it): Istio's own API
    /// for workloads outside Kubernetes.
    public func resources(gateway: GatewaySpec? = nil) -> String {
        var documents: [String] = []
        if let gateway {
            let labels = gateway.labels.merging(["security.istio.io/tlsMode": "istio"]) { mine, _ in mine }
                .sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", ")
            documents.append("""
                apiVersion: networking.istio.io/v1
                kind: WorkloadEntry
                metadata: {name: \(gateway.name), namespace: \(gateway.namespace)}
                spec: {address: \(gateway.address), labels: {\(labels)}, serviceAccount: \(gateway.serviceAccount)}
                """)
        }
        let services = Dictionary(grouping: workloads) { "\($0.spec.namespace)/\($0.spec.service)" }
        for key in services.keys.sorted() {
            let first = services[key]![0].spec
            documents.append("""
                apiVersion: networking.istio.io/v1
                kind: ServiceEntry
                metadata: {name: \(first.service), namespace: \(first.namespace)}
                spec:
                  hosts: [\(first.service).\(first.namespace).svc.cluster.local]
                  location: MESH_INTERNAL
                  resolution: STATIC
                  ports: [{number: \(first.port), name: \(first.protocolName.lowercased()), protocol: \(first.protocolName)}]
                  workloadSelector: {labels: {app: \(first.service)}}
                """)
        }
        for workload in workloads {
            let spec = workload.spec
            let labels = spec.labels.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", ")
            documents.append("""
                apiVersion: networking.istio.io/v1
                kind: WorkloadEntry
                metadata: {name: \(spec.name), namespace: \(spec.namespace)}
                spec:
                  address: \(workload.instanceAddress)
                  labels: {\(labels)}
                  serviceAccount: \(spec.serviceAccount)
                  ports: {\(spec.protocolName.lowercased()): \(spec.port)}
                """)
            // The selector is the workload's name label alone, so each Sidecar applies to one workload.
            documents.append("""
                apiVersion: networking.istio.io/v1
                kind: Sidecar
                metadata: {name: \(spec.name), namespace: \(spec.namespace)}
                spec:
                  workloadSelector: {labels: {\(Self.workloadLabel): \(spec.name)}}
                  ingress:
                  - port: {number: \(spec.port), protocol: \(spec.protocolName), name: \(spec.protocolName.lowercased())}
                    bind: \(workload.instanceAddress)
                    captureMode: NONE
                    defaultEndpoint: 127.0.0.1:\(workload.appPort)
                  egress:
                \(egress(workload.egressAddress))
                """)
        }
        return documents.joined(separator: "\n---\n") + "\n"
    }

    /// One egress listener per service port of the mesh, on the workload's egress address.
    private func egress(_ address: String) -> String {
        let ports = Set(workloads.map { "\($0.spec.port) \($0.spec.protocolName)" }).sorted()
        return ports.map { entry in
            let parts = entry.split(separator: " ")
            return """
                  - port: {number: \(parts[0]), protocol: \(parts[1]), name: \(parts[1].lowercased())-\(parts[0])}
                    bind: \(address)
                    captureMode: NONE
                    hosts: ["*/*"]
                """
        }.joined(separator: "\n")
    }

    /// A label every planned workload carries with its own name, so its Sidecar selects it alone.
    public static let workloadLabel = "swiftmesh.io/workload"
}

/// The ingress gateway's identity: where it runs and which labels Gateways select.
public struct GatewaySpec: Sendable, Codable, Equatable {
    public var name = "istio-ingressgateway"
    public var namespace = "istio-system"
    public var address: String
    public var labels: [String: String]
    public var serviceAccount = "istio-ingressgateway-service-account"

    public init(address: String, labels: [String: String]) {
        self.address = address
        self.labels = labels
    }
}
