// The whole of one proxy's configuration: clusters, endpoints, listeners and routes.

import EnvoyAPI
import MeshAPI
import MeshModel

/// Everything meshd sends one proxy, by xDS type, each list ordered by resource name.
public struct ProxyResources: Sendable {
    public var clusters: [Envoy_Config_Cluster_V3_Cluster] = []
    public var endpoints: [Envoy_Config_Endpoint_V3_ClusterLoadAssignment] = []
    public var listeners: [Envoy_Config_Listener_V3_Listener] = []
    public var routes: [Envoy_Config_Route_V3_RouteConfiguration] = []

    public init() {}
}

/// ConfigGen's entry point, the pure function `(MeshSnapshot, MeshProxy) → xDS resources`.
public struct ProxyConfigGenerator {
    public let context: PushContext
    public var snapshot: MeshSnapshot { context.snapshot }

    /// Generation sharing `context`'s per-snapshot work with every other proxy's.
    public init(context: PushContext) {
        self.context = context
    }

    public init(snapshot: MeshSnapshot) {
        self.init(context: PushContext(snapshot: snapshot))
    }

    /// The resources for one proxy. Throws only on a translation that cannot be expressed in
    /// Envoy's API, naming the resource and field.
    public func generate(for proxy: MeshProxy) throws -> ProxyResources {
        var resources = ProxyResources()
        let virtualServices = context.virtualServices(for: proxy.namespace)
        // A sidecar gets the clusters of the services its Sidecar imports; a gateway all it can see.
        let scope = proxy.id.type == .sidecar ? context.sidecarScope(for: proxy) : nil
        // A tracer's collector gets its clusters whatever the Sidecar imports: Istio leaves them
        // out when the egress hosts do not name the collector, and Envoy then refuses every
        // listener that traces ("unknown cluster", istio/istio#53701).
        let collectors = scope == nil ? [] : TracingAttachment.collectorHosts(snapshot: snapshot, proxy: proxy)
        let outbound = try context.outboundClusters(for: proxy.namespace, hosts: scope.map { Set($0.importedServices.map(\.hostname)).union(collectors) },
                                                    mutualTLS: proxy.hasIdentity)
            .map { $0.localized(for: proxy) }
        let hashPolicies = Dictionary(outbound.compactMap { output in
            output.consistentHash.map { (output.cluster.name, HashPolicyTranslator.hashPolicy($0)) }
        }, uniquingKeysWith: { first, _ in first })
        switch proxy.id.type {
        case .router:
            // A gateway is not scoped by Sidecars: it reaches every service visible to its namespace.
            for output in outbound {
                resources.clusters.append(output.cluster)
                if let assignment = output.loadAssignment { resources.endpoints.append(assignment) }
            }
            let gateway = try GatewayListenerGenerator(snapshot: snapshot, proxy: proxy, virtualServices: virtualServices, hashPolicies: hashPolicies).generate()
            resources.listeners = gateway.listeners
            resources.routes = gateway.routes
        case .sidecar:
            try generateSidecar(proxy, scope: scope ?? context.sidecarScope(for: proxy), collectors: collectors, outbound: outbound,
                                virtualServices: virtualServices, hashPolicies: hashPolicies, into: &resources)
        }
        try AccessLogAttachment.attach(to: &resources.listeners, snapshot: snapshot, proxy: proxy)
        MetricsAttachment.attach(to: &resources.listeners, snapshot: snapshot, proxy: proxy)
        try TracingAttachment.attach(to: &resources.listeners, snapshot: snapshot, proxy: proxy)
        try MetadataExchangeAttachment.attach(to: &resources, proxy: proxy)
        resources.clusters.sort { $0.name < $1.name }
        resources.endpoints.sort { $0.clusterName < $1.clusterName }
        resources.listeners.sort { $0.name < $1.name }
        resources.routes.sort { $0.name < $1.name }
        return resources
    }

    private func generateSidecar(_ proxy: MeshProxy, scope: SidecarScope, collectors: Set<String>, outbound: [OutboundClusterGenerator.Output], virtualServices: VirtualServiceIndex,
                                 hashPolicies: [String: [HashPolicyTranslator.HashPolicy]], into resources: inout ProxyResources) throws {
        let imported = scope.importedServices
        let importedHosts = Set(imported.map(\.hostname)).union(collectors)
        // Connections leave from the workload's instance address through the bootstrap's
        // `cluster_manager.upstream_bind_config` (embedded contract), so clusters are the same
        // for every proxy that imports them.
        for output in outbound {
            // Only what the Sidecar's egress hosts import; BlackHole and Passthrough always.
            if let host = ClusterNames.outboundHost(output.cluster.name), !importedHosts.contains(host) { continue }
            resources.clusters.append(output.cluster)
            if let assignment = output.loadAssignment { resources.endpoints.append(assignment) }
        }

        let inbound = SidecarInboundListenerGenerator(snapshot: snapshot, proxy: proxy, scope: scope)
        let inboundPorts = try inbound.ports()
        resources.clusters += inbound.clusters(inboundPorts)
        switch proxy.interceptionMode {
        case .none:
            resources.listeners += try inbound.listeners(inboundPorts)
        case .redirect:
            resources.listeners.append(try VirtualListenerGenerator.virtualOutbound(policy: scope.outboundTrafficPolicy))
            resources.listeners.append(try VirtualListenerGenerator.virtualInbound(inboundPorts, mode: inbound.mutualTLSMode))
            resources.clusters.append(InboundClusterGenerator.inboundPassthrough())
        }

        let services = Dictionary(imported.map { ($0.hostname, $0) }, uniquingKeysWith: { first, _ in first })
        let context = { (port: UInt32) in
            RouteContext(proxyLabels: proxy.labels, proxyNamespace: proxy.namespace, port: port, gateway: "mesh",
                         services: services, virtualServices: virtualServices, hashPolicies: hashPolicies)
        }
        let taken = proxy.interceptionMode == .none ? Set(inboundPorts.map { "\($0.bind):\($0.number)" }) : []
        let outboundListeners = try SidecarOutboundListenerGenerator(proxy: proxy, scope: scope, virtualServices: virtualServices)
            .generate(taken: taken, context: context)
        resources.listeners += outboundListeners.listeners
        let routes = SidecarRouteConfigGenerator(scope: scope, virtualServices: virtualServices)
        for (port, services) in outboundListeners.httpServices {
            resources.routes.append(try routes.routeConfiguration(port: port, services: services, context: context(port)))
        }
    }
}
