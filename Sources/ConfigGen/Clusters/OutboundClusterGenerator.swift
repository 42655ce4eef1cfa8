// Outbound clusters (CDS) and their endpoints (EDS) for the services a proxy can reach.

import EnvoyAPI
import MeshAPI
import MeshModel
import SwiftProtobuf

/// Envoy's clusters for the services a proxy sees, one per service port and one per
/// DestinationRule subset, with Istio's names; and the ClusterLoadAssignment of every EDS
/// cluster. Pure: the same snapshot and proxy give the same output.
public struct OutboundClusterGenerator {
    public let snapshot: MeshSnapshot
    /// The namespace of the proxy the clusters are for (visibility through `exportTo`).
    public let proxyNamespace: String
    /// The proxy has a workload identity (certificates over SDS): clusters to mesh workloads
    /// then speak mTLS to the endpoints that accept it (Istio's automatic mTLS).
    public let mutualTLS: Bool

    public init(snapshot: MeshSnapshot, proxyNamespace: String, mutualTLS: Bool = false) {
        self.snapshot = snapshot
        self.proxyNamespace = proxyNamespace
        self.mutualTLS = mutualTLS
    }

    /// One cluster a service port (and subset) becomes, with the endpoints EDS sends for it.
    public struct Output: Sendable {
        public var cluster: Envoy_Config_Cluster_V3_Cluster
        /// For EDS clusters; empty (but present) when no endpoint matches, since Envoy waits for
        /// an assignment before it uses the cluster.
        public var loadAssignment: Envoy_Config_Endpoint_V3_ClusterLoadAssignment?
        /// The effective consistent-hash setting; routes to the cluster carry its key.
        public var consistentHash: LoadBalancerSettings.ConsistentHashLB? = nil
        /// The endpoints behind the cluster, and the locality load balancing in force for it:
        /// each proxy's view of them depends on the proxy's locality (`localized(for:)`).
        var endpoints: [MeshEndpoint] = []
        /// `address:port` of the endpoints that accept mTLS (marked for transport socket matching).
        var mutualTLSEndpoints: Set<String> = []
        var locality: LocalityLoadBalancerSetting? = nil
        var outlierDetection = false

        /// The cluster as a proxy at `proxy`'s locality gets it: endpoint priorities or locality
        /// weights rewritten by Istio's locality load balancing; unchanged when that does not apply.
        func localized(for proxy: MeshProxy) -> Output {
            guard let setting = locality, let proxyLocality = proxy.locality, !proxyLocality.isEmpty,
                  let assignment = LocalityLoadBalancer.assignment(
                      cluster.name, endpoints: endpoints, mutualTLS: mutualTLSEndpoints, setting: setting, outlierDetection: outlierDetection,
                      proxyLocality: proxyLocality, proxyLabels: proxy.labels, proxyNetwork: proxy.workload?.network)
            else { return self }
            var output = self
            if output.loadAssignment != nil {
                output.loadAssignment = assignment
            } else if output.cluster.hasLoadAssignment {
                output.cluster.loadAssignment = assignment  // DNS clusters carry their endpoints inline
            }
            return output
        }
    }

    /// Every outbound cluster, ordered by name, plus BlackHoleCluster and PassthroughCluster.
    /// With `hosts`, only the clusters of those services (what a Sidecar imports): a scoped
    /// proxy then costs what it receives, not what the mesh holds.
    public func generate(hosts: Set<String>? = nil) throws -> [Output] {
        var outputs: [Output] = []
        for service in snapshot.registry.services where isVisible(service) && (hosts?.contains(service.hostname) ?? true) {
            outputs += try generate(service)
        }
        return Self.withFallbacks(outputs)
    }

    /// The clusters of one visible service: one per port, and per DestinationRule subset.
    public func generate(_ service: MeshService) throws -> [Output] {
        var outputs: [Output] = []
        let rule = destinationRule(for: service)
        for port in service.ports {
            outputs.append(try output(service, port, rule: rule, subset: nil))
            for subset in rule?.subsets ?? [] where subset.name != nil {
                outputs.append(try output(service, port, rule: rule, subset: subset))
            }
        }
        return outputs
    }

    /// Services' clusters plus BlackHoleCluster and PassthroughCluster, ordered by name.
    static func withFallbacks(_ outputs: [Output]) -> [Output] {
        (outputs + [Output(cluster: blackHole(), loadAssignment: nil), Output(cluster: passthrough(), loadAssignment: nil)])
            .sorted { $0.cluster.name < $1.cluster.name }
    }

    /// `exportTo`: `*`, or the proxy's namespace.
    func isVisible(_ service: MeshService) -> Bool {
        service.exportTo.contains("*") || service.exportTo.contains(proxyNamespace)
    }

    /// The DestinationRule for a service, as Istio chooses among several: the proxy's namespace,
    /// then the service's, then the root namespace.
    func destinationRule(for service: MeshService) -> DestinationRule? {
        let candidates = snapshot.destinationRules(forHost: service.hostname)
        for namespace in [proxyNamespace, service.namespace, snapshot.meshConfig.effectiveRootNamespace] {
            if let match = candidates.first(where: { $0.resource.namespace == namespace }) { return match.rule }
        }
        return candidates.first?.rule
    }

    private func output(_ service: MeshService, _ port: MeshService.Port, rule: DestinationRule?, subset: Subset?) throws -> Output {
        let name = ClusterNames.outbound(port: port.number, subset: subset?.name, host: service.hostname)
        var cluster = Envoy_Config_Cluster_V3_Cluster()
        cluster.name = name
        cluster.connectTimeout = duration(snapshot.meshConfig.connectTimeout, defaultSeconds: 10)
        if service.location == .MESH_INTERNAL { cluster.metadata = MetricsAttachment.services([service]) }
        let endpoints = (snapshot.registry.endpoints[service.hostname] ?? []).filter { endpoint in
            endpoint.servicePort == port.number && (subset?.labels ?? [:]).allSatisfy { endpoint.labels[$0.key] == $0.value }
        }
        // Endpoints whose workload runs a mesh proxy (Istio's tlsMode label) and does not
        // DISABLE mTLS on that port get mTLS from clients that can; others get plaintext.
        let mutualTLSEndpoints = Set(endpoints.filter { endpoint in
            endpoint.labels[MutualTLS.tlsModeLabel] == "istio"
                && snapshot.mutualTLSMode(namespace: endpoint.workload?.namespace ?? service.namespace, labels: endpoint.labels, port: endpoint.port) != .disable
        }.map { "\($0.address):\($0.port)" })
        var output = try discovery(service, name: name, endpoints: endpoints, mutualTLS: mutualTLSEndpoints, cluster: cluster)
        output.mutualTLSEndpoints = mutualTLSEndpoints
        if service.resolution != .NONE {
            let policy = EffectiveTrafficPolicy(rule: rule, subset: subset, port: port.number)
            try TrafficPolicyTranslator.apply(policy, to: &output.cluster, http2: ["HTTP2", "GRPC", "GRPC-Web"].contains(port.protocolName))
            try applyTLS(policy.tls, service: service, port: port, subset: subset, endpoints: endpoints, to: &output.cluster)
            output.consistentHash = policy.loadBalancer?.consistentHash
            output.endpoints = endpoints
            output.locality = LocalityLoadBalancer.setting(rule: policy.loadBalancer?.localityLbSetting, mesh: snapshot.meshConfig.localityLbSetting)
            output.outlierDetection = policy.outlierDetection != nil
            if let distribute = output.locality?.distribute, !distribute.isEmpty {
                // Envoy honours locality weights only when told to.
                output.cluster.commonLbConfig.localityWeightedLbConfig = Envoy_Config_Cluster_V3_Cluster.CommonLbConfig.LocalityWeightedLbConfig()
            }
            if output.cluster.type == .originalDst { output.loadAssignment = nil }  // a PASSTHROUGH policy
        }
        return output
    }

    /// DestinationRule `tls`, or automatic mTLS: ISTIO_MUTUAL always speaks mTLS (when this proxy
    /// can), SIMPLE and MUTUAL originate TLS with the files given, DISABLE never uses TLS; without
    /// a setting, a mesh-internal service gets mTLS to the endpoints marked for it and plaintext
    /// to the rest.
    private func applyTLS(_ tls: ClientTLSSettings?, service: MeshService, port: MeshService.Port, subset: Subset?,
                          endpoints: [MeshEndpoint], to cluster: inout Envoy_Config_Cluster_V3_Cluster) throws {
        let sni = MutualTLS.sni(port: port.number, subset: subset?.name, host: service.hostname)
        let trustDomain = snapshot.meshConfig.trustDomain ?? "cluster.local"
        // The server must be one of the service's workloads: their SPIFFE IDs, and any the
        // ServiceEntry names.
        let identities = Set(endpoints.compactMap { endpoint in
            endpoint.serviceAccount.map { "spiffe://\(trustDomain)/ns/\(endpoint.workload?.namespace ?? service.namespace)/sa/\($0)" }
        }).union(service.subjectAltNames).sorted()
        switch tls?.mode {
        case .DISABLE?:
            return
        case .SIMPLE?, .MUTUAL?:
            cluster.transportSocket = try MutualTLS.originate(tls!, defaultSNI: service.hostname)
        case .ISTIO_MUTUAL?:
            guard mutualTLS else { return }
            cluster.transportSocket = try MutualTLS.upstream(sni: tls?.sni ?? sni, peerIdentities: tls?.subjectAltNames ?? identities)
        case nil:
            guard mutualTLS, service.location == .MESH_INTERNAL else { return }
            var istio = Envoy_Config_Cluster_V3_Cluster.TransportSocketMatch()
            istio.name = "tlsMode-istio"
            istio.match.fields["tlsMode"] = Google_Protobuf_Value(stringValue: "istio")
            istio.transportSocket = try MutualTLS.upstream(sni: sni, peerIdentities: identities)
            var plaintext = Envoy_Config_Cluster_V3_Cluster.TransportSocketMatch()
            plaintext.name = "tlsMode-disabled"
            plaintext.transportSocket.name = "envoy.transport_sockets.raw_buffer"
            plaintext.transportSocket.typedConfig = try Google_Protobuf_Any(message: Envoy_Extensions_TransportSockets_RawBuffer_V3_RawBuffer())
            cluster.transportSocketMatches = [istio, plaintext]
        }
    }

    /// How Envoy finds the endpoints, by the service's resolution.
    private func discovery(_ service: MeshService, name: String, endpoints: [MeshEndpoint], mutualTLS: Set<String>,
                           cluster: Envoy_Config_Cluster_V3_Cluster) throws -> Output {
        var cluster = cluster
        switch service.resolution {
        case .NONE:
            // Traffic keeps the address it was sent to (Istio's passthrough for such services).
            cluster.type = .originalDst
            cluster.lbPolicy = .clusterProvided
            return Output(cluster: cluster, loadAssignment: nil)
        case .DNS, .DYNAMIC_DNS:
            cluster.type = .strictDns
            cluster.loadAssignment = Self.loadAssignment(name, endpoints, mutualTLS: mutualTLS)
            return Output(cluster: cluster, loadAssignment: nil)
        case .DNS_ROUND_ROBIN:
            cluster.type = .logicalDns
            cluster.loadAssignment = Self.loadAssignment(name, endpoints, mutualTLS: mutualTLS)
            return Output(cluster: cluster, loadAssignment: nil)
        case .STATIC:
            cluster.type = .eds
            cluster.edsClusterConfig.serviceName = name
            cluster.edsClusterConfig.edsConfig.ads = Envoy_Config_Core_V3_AggregatedConfigSource()
            cluster.edsClusterConfig.edsConfig.resourceApiVersion = .v3
            return Output(cluster: cluster, loadAssignment: Self.loadAssignment(name, endpoints, mutualTLS: mutualTLS))
        }
    }

    /// Endpoints grouped by locality (`region/zone/subzone`), with their weights.
    static func loadAssignment(_ name: String, _ endpoints: [MeshEndpoint], mutualTLS: Set<String> = []) -> Envoy_Config_Endpoint_V3_ClusterLoadAssignment {
        var assignment = Envoy_Config_Endpoint_V3_ClusterLoadAssignment()
        assignment.clusterName = name
        let byLocality = Dictionary(grouping: endpoints) { $0.locality ?? "" }
        for locality in byLocality.keys.sorted() {
            var group = Envoy_Config_Endpoint_V3_LocalityLbEndpoints()
            let parts = locality.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
            if parts.count > 0 { group.locality.region = parts[0] }
            if parts.count > 1 { group.locality.zone = parts[1] }
            if parts.count > 2 { group.locality.subZone = parts[2] }
            var total: UInt32 = 0
            for endpoint in byLocality[locality] ?? [] {
                var lbEndpoint = Envoy_Config_Endpoint_V3_LbEndpoint()
                lbEndpoint.endpoint.address = BootstrapGenerator.socketAddress(endpoint.address, endpoint.port)
                lbEndpoint.loadBalancingWeight = Google_Protobuf_UInt32Value(endpoint.weight)
                if mutualTLS.contains("\(endpoint.address):\(endpoint.port)") {
                    var match = Google_Protobuf_Struct()
                    match.fields["tlsMode"] = Google_Protobuf_Value(stringValue: "istio")
                    lbEndpoint.metadata.filterMetadata[MutualTLS.socketMatchKey] = match
                }
                total += endpoint.weight
                group.lbEndpoints.append(lbEndpoint)
            }
            group.loadBalancingWeight = Google_Protobuf_UInt32Value(total)
            assignment.endpoints.append(group)
        }
        return assignment
    }

    static func blackHole() -> Envoy_Config_Cluster_V3_Cluster {
        var cluster = Envoy_Config_Cluster_V3_Cluster()
        cluster.name = ClusterNames.blackHole
        cluster.type = .static
        cluster.connectTimeout = Google_Protobuf_Duration(seconds: 10)
        return cluster
    }

    static func passthrough() -> Envoy_Config_Cluster_V3_Cluster {
        var cluster = Envoy_Config_Cluster_V3_Cluster()
        cluster.name = ClusterNames.passthrough
        cluster.type = .originalDst
        cluster.lbPolicy = .clusterProvided
        cluster.connectTimeout = Google_Protobuf_Duration(seconds: 10)
        return cluster
    }

    private func duration(_ value: ProtoDuration?, defaultSeconds: Int64) -> Google_Protobuf_Duration {
        guard let value else { return Google_Protobuf_Duration(seconds: defaultSeconds) }
        return Google_Protobuf_Duration(seconds: value.nanoseconds / 1_000_000_000, nanos: Int32(value.nanoseconds % 1_000_000_000))
    }
}
