// The proxy's configuration as xDS delivered it: decoded per type, combined into snapshots, published to every worker.

import EnvoyAPI
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import NIOCore
import ProxyConfig
import ProxyCore
import ProxyUpstream
import SwiftProtobuf
import Synchronization
import XDSClient

/// Receives each xDS type whole (from the ADS client), decodes it into validated config
/// values, and publishes a new snapshot to the workers. Whatever cannot be decoded is
/// rejected with a path into the resource; the previous config of that type stays in force.
public final class ProxyConfigStore: Sendable {
    struct State {
        var listeners: [String: ListenerConfig] = [:]
        var routeTables: [String: RouteTable] = [:]
        var clusterConfigs: [String: ClusterConfig] = [:]
        var assignments: [String: LoadAssignment] = [:]
        /// DNS clusters' endpoints with their names resolved (the latest round of each).
        var resolvedDNS: [String: LoadAssignment] = [:]
        var clusters: [String: UpstreamCluster] = [:]
        var raw: [ResourceType: [String: HeldResource]] = [:]
        var version = 0
        var received: Set<ResourceType> = []
        var secretNames: Set<String> = []
    }

    private let state = Mutex(State())
    private let limits: ConfigLimits
    private let workers: [Worker]
    private let listenerSet: ListenerSet
    private let log: @Sendable (String) -> Void
    private let secrets: SecretCache
    /// Secrets have a source (the embedded identity agent, or an SDS stream); without one,
    /// config that names an SDS secret is refused rather than left waiting for a certificate
    /// that cannot come.
    private let hasIdentity: Bool
    private let dns: DNSRefresher
    /// Told the secret names the config refers to whenever they change (an SDS stream asks for them).
    private let secretNamesChanged: @Sendable (Set<String>) -> Void
    /// Active health checks of the clusters that ask for them (on the first worker's loop).
    private let healthChecker: HealthChecker?

    public init(limits: ConfigLimits, workers: [Worker], listenerSet: ListenerSet, secrets: SecretCache, hasIdentity: Bool,
                dnsLookup: DNSRefresher.Lookup? = nil, secretNamesChanged: @escaping @Sendable (Set<String>) -> Void = { _ in },
                upstreamBindAddress: SocketAddress? = nil, log: @escaping @Sendable (String) -> Void) {
        self.secretNamesChanged = secretNamesChanged
        healthChecker = workers.first.map { HealthChecker(loop: $0.loop, upstreamBindAddress: upstreamBindAddress, log: log) }
        self.limits = limits
        self.workers = workers
        self.listenerSet = listenerSet
        self.secrets = secrets
        self.hasIdentity = hasIdentity
        self.log = log
        dns = dnsLookup.map { DNSRefresher(lookup: $0, log: log) } ?? DNSRefresher(log: log)
        dns.deliver { [weak self] cluster, assignment in self?.resolved(cluster, assignment) }
    }

    /// The DNS clusters whose endpoints include names to resolve.
    private static func dnsClusters(_ state: State) -> [String: (LoadAssignment, ClusterConfig.DNSResolution)] {
        var clusters: [String: (LoadAssignment, ClusterConfig.DNSResolution)] = [:]
        for (name, config) in state.clusterConfigs {
            if case .dns(let assignment, let resolution) = config.discovery, !DNSEndpoints.names(in: assignment).isEmpty {
                clusters[name] = (assignment, resolution)
            }
        }
        return clusters
    }

    /// A DNS round finished: the cluster gets the addresses, the workers a new snapshot.
    private func resolved(_ cluster: String, _ assignment: LoadAssignment) {
        let snapshot: ProxySnapshot? = state.withLock { state in
            guard Self.dnsClusters(state)[cluster] != nil else { return nil }  // gone meanwhile
            state.resolvedDNS[cluster] = assignment
            if let config = state.clusterConfigs[cluster] {
                state.clusters[cluster] = UpstreamCluster(config: config, assignment: assignment, previous: state.clusters[cluster])
            }
            state.version += 1
            return ProxySnapshot(version: state.version, listeners: state.listeners, routeTables: state.routeTables, clusters: state.clusters)
        }
        if let snapshot {
            for worker in workers { worker.publish(snapshot) }
            healthChecker?.update(snapshot.clusters)
        }
    }

    /// Stops resolving names (shutdown).
    public func stop() {
        dns.stop()
        healthChecker?.stop()
    }

    /// Applies one type's resources as they are after a response; nil to ACK, a reason to NACK.
    public func apply(_ type: ResourceType, _ resources: [String: HeldResource]) -> String? {
        do {
            let (snapshot, namesChanged): (ProxySnapshot, Bool) = try state.withLock { current in
                // Built on a copy: a refusal anywhere leaves the last good config whole.
                var state = current
                switch type {
                case .listener:
                    state.listeners = try decode(resources, as: Envoy_Config_Listener_V3_Listener.self) { try ListenerConfig(proto: $0, limits: limits) }
                    try TracingConfig.checkCollectorClusters(state.listeners, clusters: state.clusterConfigs)
                case .route:
                    state.routeTables = try decode(resources, as: Envoy_Config_Route_V3_RouteConfiguration.self) { try RouteTable(proto: $0, limits: limits) }
                case .cluster:
                    state.clusterConfigs = try decode(resources, as: Envoy_Config_Cluster_V3_Cluster.self) { try ClusterConfig(proto: $0, limits: limits) }
                case .endpoint:
                    state.assignments = try decode(resources, as: Envoy_Config_Endpoint_V3_ClusterLoadAssignment.self) { try LoadAssignment(proto: $0) }
                }
                state.raw[type] = resources
                state.received.insert(type)
                if type == .cluster || type == .endpoint { rebuildClusters(&state) }
                let snapshot = ProxySnapshot(version: state.version + 1, listeners: state.listeners, routeTables: state.routeTables,
                                             clusters: state.clusters)
                if !hasIdentity, let name = snapshot.secretNames.sorted().first {
                    throw ProxyConfigError("\(type.shortName) transport_socket", "names the SDS secret \"\(name)\", but this meshproxy has no "
                                           + "identity: run it with --ca-address, --ca-root and --token-file (its embedded agent), "
                                           + "or give its bootstrap an sds-grpc cluster (an agent serving SDS)")
                }
                state.version += 1
                let namesChanged = state.secretNames != snapshot.secretNames
                state.secretNames = snapshot.secretNames
                current = state
                return (snapshot, namesChanged)
            }
            if namesChanged { secretNamesChanged(snapshot.secretNames) }
            for worker in workers { worker.publish(snapshot) }
            if type == .cluster || type == .endpoint { healthChecker?.update(snapshot.clusters) }
            if type == .listener { _ = listenerSet.update(snapshot.listeners) }
            if type == .cluster { dns.track(state.withLock { Self.dnsClusters($0) }) }
            return nil
        } catch let error as ProxyConfigError {
            log("xds: rejected \(type.shortName): \(error)")
            return error.description
        } catch {
            log("xds: rejected \(type.shortName): \(error)")
            return "\(type.shortName): \(error)"
        }
    }

    private func decode<M: SwiftProtobuf.Message, T>(_ resources: [String: HeldResource], as type: M.Type,
                                                    _ make: (M) throws -> T) throws -> [String: T] {
        var out: [String: T] = [:]
        for (name, held) in resources {
            let message: M
            do {
                message = try M(unpackingAny: held.body)
            } catch {
                throw ProxyConfigError(name, "not a \(M.protoMessageName): \(error)")
            }
            out[name] = try make(message)
        }
        return out
    }

    /// Clusters with their endpoints (EDS from the assignments, STATIC from the cluster),
    /// keeping host state and circuit-breaker counters of clusters that stay.
    private func rebuildClusters(_ state: inout State) {
        var clusters: [String: UpstreamCluster] = [:]
        for (name, config) in state.clusterConfigs {
            let assignment: LoadAssignment?
            switch config.discovery {
            case .eds(let serviceName): assignment = state.assignments[serviceName]
            case .staticEndpoints(let staticAssignment): assignment = staticAssignment
            case .dns(let named, _):
                // Until its first round, a cluster with names has no hosts (Envoy's warming).
                assignment = DNSEndpoints.names(in: named).isEmpty ? named : state.resolvedDNS[name]
            case .originalDestination: assignment = nil
            }
            clusters[name] = UpstreamCluster(config: config, assignment: assignment, previous: state.clusters[name])
        }
        state.clusters = clusters
        state.resolvedDNS = state.resolvedDNS.filter { clusters[$0.key] != nil }
    }

    /// True once clusters and listeners have arrived (Envoy's LIVE).
    public var isInitialized: Bool {
        let (received, names, resolving) = state.withLock { state in
            (state.received.isSuperset(of: [.cluster, .listener]), state.secretNames,
             Self.dnsClusters(state).keys.contains { state.resolvedDNS[$0] == nil })
        }
        // As Envoy's listeners warm until their SDS secrets arrive, and its DNS clusters until
        // their first lookup has finished (found addresses or not), its health-checked clusters
        // until each host's first check has.
        return received && !resolving && secrets.missing(names).isEmpty && !(healthChecker?.isWarming ?? false)
    }

    public func currentClusters() -> [String: UpstreamCluster] { state.withLock { $0.clusters } }

    public func currentListeners() -> [String: ListenerConfig] { state.withLock { $0.listeners } }

    /// Envoy's config dump shape: the dynamic resources of each type with their versions.
    public func configDump() -> String {
        ProxyTypeRegistry.registerUnderstood()
        let raw = state.withLock { $0.raw }
        var sections: [String] = []
        let kinds: [(ResourceType, String, String)] = [
            (.cluster, "type.googleapis.com/envoy.admin.v3.ClustersConfigDump", "dynamic_active_clusters"),
            (.listener, "type.googleapis.com/envoy.admin.v3.ListenersConfigDump", "dynamic_listeners"),
            (.route, "type.googleapis.com/envoy.admin.v3.RoutesConfigDump", "dynamic_route_configs"),
            (.endpoint, "type.googleapis.com/envoy.admin.v3.EndpointsConfigDump", "dynamic_endpoint_configs"),
        ]
        for (type, dumpType, field) in kinds {
            let entries = (raw[type] ?? [:]).sorted { $0.key < $1.key }.map { name, held -> String in
                let body: String
                do {
                    body = try held.body.jsonString()
                } catch {
                    body = "{\"error\": \(Self.quoted("cannot render \(held.body.typeURL) as JSON: \(error)"))}"
                }
                return "{\"name\": \(Self.quoted(name)), \"version_info\": \(Self.quoted(held.version)), \"resource\": \(body)}"
            }
            sections.append("{\"@type\": \"\(dumpType)\", \"\(field)\": [\(entries.joined(separator: ", "))]}")
        }
        return "{\"configs\": [\(sections.joined(separator: ",\n"))]}\n"
    }

    /// `text` as a JSON string literal, escaped by SwiftProtobuf's JSON writer (the one that
    /// writes the resources beside it).
    static func quoted(_ text: String) -> String {
        (try? Google_Protobuf_Value(stringValue: text).jsonString()) ?? "\"\""
    }
}
