// One Istio resource as read from a file: envelope, typed spec, and where it came from.

/// The typed spec of a resource.
public enum ResourceSpec: Hashable, Sendable {
    case virtualService(VirtualService)
    case destinationRule(DestinationRule)
    case gateway(Gateway)
    case serviceEntry(ServiceEntry)
    case workloadEntry(WorkloadEntry)
    case workloadGroup(WorkloadGroup)
    case sidecar(Sidecar)
    case peerAuthentication(PeerAuthentication)
    case requestAuthentication(RequestAuthentication)
    case authorizationPolicy(AuthorizationPolicy)
    case telemetry(Telemetry)

    public var kind: ResourceKind {
        switch self {
        case .virtualService: return .virtualService
        case .destinationRule: return .destinationRule
        case .gateway: return .gateway
        case .serviceEntry: return .serviceEntry
        case .workloadEntry: return .workloadEntry
        case .workloadGroup: return .workloadGroup
        case .sidecar: return .sidecar
        case .peerAuthentication: return .peerAuthentication
        case .requestAuthentication: return .requestAuthentication
        case .authorizationPolicy: return .authorizationPolicy
        case .telemetry: return .telemetry
        }
    }
}

/// Where a resource was read from, so diagnostics can point into the file.
public struct ResourceSource: Sendable {
    public var file: String
    /// The resource's own node (a whole document, or one item of a `List`).
    public var node: ConfigNode

    public func location(of path: FieldPath) -> SourceLocation { node.location(of: path) }

    func location(of path: FieldPath, keyIndex: MappingKeyIndex) -> SourceLocation { node.location(of: path, keyIndex: keyIndex) }
}

/// An Istio resource: Kubernetes envelope plus typed spec.
public struct MeshResource: Sendable {
    public var apiVersion: String
    public var metadata: ObjectMeta
    public var spec: ResourceSpec
    /// `status` as a cluster wrote it; kept, never interpreted.
    public var status: ConfigValue?
    public var source: ResourceSource?

    public init(apiVersion: String? = nil, metadata: ObjectMeta, spec: ResourceSpec, status: ConfigValue? = nil, source: ResourceSource? = nil) {
        self.apiVersion = apiVersion ?? spec.kind.preferredAPIVersion
        self.metadata = metadata
        self.spec = spec
        self.status = status
        self.source = source
    }

    public var kind: ResourceKind { spec.kind }

    /// Where a field of this resource was written (for a missing field, where its parent was).
    public func location(of path: FieldPath) -> SourceLocation? { source?.location(of: path) }
    public var name: String { metadata.name ?? "" }
    public var namespace: String { metadata.effectiveNamespace }
    public var reference: ResourceReference {
        ResourceReference(kind: kind.rawValue, namespace: namespace, name: name)
    }
}

extension MeshResource: Equatable {
    /// Equal content; where the resource was read from does not matter.
    public static func == (lhs: MeshResource, rhs: MeshResource) -> Bool {
        lhs.apiVersion == rhs.apiVersion && lhs.metadata == rhs.metadata && lhs.spec == rhs.spec && lhs.status == rhs.status
    }
}

extension MeshResource: Encodable {
    private enum CodingKeys: String, CodingKey {
        case apiVersion, kind, metadata, spec, status
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(apiVersion, forKey: .apiVersion)
        try container.encode(kind.rawValue, forKey: .kind)
        try container.encode(metadata, forKey: .metadata)
        switch spec {
        case .virtualService(let spec): try container.encode(spec, forKey: .spec)
        case .destinationRule(let spec): try container.encode(spec, forKey: .spec)
        case .gateway(let spec): try container.encode(spec, forKey: .spec)
        case .serviceEntry(let spec): try container.encode(spec, forKey: .spec)
        case .workloadEntry(let spec): try container.encode(spec, forKey: .spec)
        case .workloadGroup(let spec): try container.encode(spec, forKey: .spec)
        case .sidecar(let spec): try container.encode(spec, forKey: .spec)
        case .peerAuthentication(let spec): try container.encode(spec, forKey: .spec)
        case .requestAuthentication(let spec): try container.encode(spec, forKey: .spec)
        case .authorizationPolicy(let spec): try container.encode(spec, forKey: .spec)
        case .telemetry(let spec): try container.encode(spec, forKey: .spec)
        }
        try container.encodeIfPresent(status, forKey: .status)
    }
}
