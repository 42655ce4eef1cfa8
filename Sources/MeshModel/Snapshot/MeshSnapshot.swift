// The immutable, versioned state of the mesh that configuration is generated from.

import MeshAPI

/// A resource's identity: kind, namespace and name.
public typealias ResourceKey = ResourceReference

/// Everything generators may read, fixed at one version. A new snapshot is built for every
/// change; nothing in it changes afterwards.
public struct MeshSnapshot: Sendable {
    /// Increases by one with every snapshot built from a change.
    public let version: UInt64
    public let meshConfig: MeshConfig
    /// The resources in force: each input's valid version, or its last valid version while the
    /// input is invalid.
    public let resources: [ResourceKey: MeshResource]
    /// Inputs that are invalid now, with the problems found; `resources` may still hold their
    /// last valid version.
    public let rejected: [ResourceKey: [Diagnostic]]
    public let registry: ServiceRegistry
    /// Built once per snapshot: generating every proxy's configuration looks these up.
    private let byKind: [ResourceKind: [MeshResource]]
    private let destinationRulesByHost: [String: [MeshResource]]
    private let sidecars: SidecarIndex

    init(version: UInt64, meshConfig: MeshConfig, resources: [ResourceKey: MeshResource], rejected: [ResourceKey: [Diagnostic]], registry: ServiceRegistry) {
        self.version = version
        self.meshConfig = meshConfig
        self.resources = resources
        self.rejected = rejected
        self.registry = registry
        var byKind: [ResourceKind: [MeshResource]] = [:]
        for resource in resources.values { byKind[resource.kind, default: []].append(resource) }
        for kind in byKind.keys { byKind[kind]!.sort { ($0.namespace, $0.name) < ($1.namespace, $1.name) } }
        self.byKind = byKind
        var destinationRulesByHost: [String: [MeshResource]] = [:]
        for resource in byKind[.destinationRule] ?? [] {
            guard case .destinationRule(let rule) = resource.spec, let host = rule.host else { continue }
            destinationRulesByHost[Self.qualify(host, namespace: resource.namespace), default: []].append(resource)
        }
        self.destinationRulesByHost = destinationRulesByHost
        self.sidecars = SidecarIndex(sidecars: byKind[.sidecar] ?? [])
    }

    /// The Sidecar resource that applies to a proxy in `namespace` with `labels`, by Istio's
    /// rule: a selector the labels hold, else the namespace's default, else the root namespace's.
    public func sidecar(namespace: String, labels: [String: String]) -> MeshResource? {
        sidecars.sidecar(namespace: namespace, labels: labels, rootNamespace: meshConfig.effectiveRootNamespace)
    }

    /// The snapshot before any configuration: defaults, no resources.
    public static func empty(meshConfig: MeshConfig = MeshConfig()) -> MeshSnapshot {
        MeshSnapshot(version: 0, meshConfig: meshConfig, resources: [:], rejected: [:], registry: ServiceRegistry())
    }

    /// The resources of one kind, ordered by namespace then name.
    public func resources(of kind: ResourceKind) -> [MeshResource] {
        byKind[kind] ?? []
    }

    /// The DestinationRules whose `host` names exactly this hostname (short names qualified in
    /// the rule's namespace), ordered by namespace then name.
    public func destinationRules(forHost hostname: String) -> [(resource: MeshResource, rule: DestinationRule)] {
        (destinationRulesByHost[hostname] ?? []).compactMap { resource in
            guard case .destinationRule(let rule) = resource.spec else { return nil }
            return (resource, rule)
        }
    }

    /// Istio's short names: a host without a dot is a service in the resource's namespace.
    static func qualify(_ host: String, namespace: String) -> String {
        host.contains(".") ? host : "\(host).\(namespace).svc.cluster.local"
    }

    /// The snapshot after a change: `report` is the validation of the whole configuration as it
    /// is now. A valid resource replaces its previous version; an invalid one keeps its last
    /// valid version (from `previous`) serving; a resource no longer in the input is removed.
    /// The resources of a file that cannot be read at all keep serving too. A resource defined
    /// twice takes the later definition, as applying the files in order would.
    public func next(_ report: ValidationReport, meshConfig: MeshConfig? = nil) -> MeshSnapshot {
        var problems: [ResourceKey: [Diagnostic]] = [:]
        // Files that could not be read (a YAML syntax error): what they held is unknown now.
        var unreadableFiles: Set<String> = []
        for diagnostic in report.diagnostics where diagnostic.severity == .error {
            if let key = diagnostic.resource {
                problems[key, default: []].append(diagnostic)
            } else if let file = diagnostic.location?.file {
                unreadableFiles.insert(file)
            }
        }
        var current: [ResourceKey: MeshResource] = [:]
        var present: Set<ResourceKey> = []
        for resource in report.resources {
            let key = resource.reference
            present.insert(key)
            if problems[key] == nil {
                current[key] = resource
            } else if let lastGood = resources[key] {
                current[key] = lastGood
            }
        }
        // An input that no longer decodes at all (a broken document) still names itself in its
        // problems; its last valid version keeps serving too.
        for key in problems.keys where !present.contains(key) {
            if let lastGood = resources[key] { current[key] = lastGood }
        }
        // Resources of a file that no longer reads keep serving until the file is fixed.
        for (key, lastGood) in resources where current[key] == nil && !present.contains(key) {
            if let file = lastGood.source?.file, unreadableFiles.contains(file) { current[key] = lastGood }
        }
        return MeshSnapshot(
            version: version + 1, meshConfig: meshConfig ?? self.meshConfig, resources: current, rejected: problems,
            registry: ServiceRegistry(resources: current.values.sorted { ($0.kind.rawValue, $0.namespace, $0.name) < ($1.kind.rawValue, $1.namespace, $1.name) }))
    }
}
