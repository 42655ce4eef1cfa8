// Kubernetes object metadata, as every Istio resource carries it.

/// `metadata` of a Kubernetes object. Bookkeeping fields written by a cluster
/// (`uid`, `managedFields`, ...) are accepted so `kubectl get -o yaml` output loads unchanged.
public struct ObjectMeta: Codable, Hashable, Sendable {
    public var name: String?
    public var namespace: String?
    public var labels: [String: String]?
    public var annotations: [String: String]?
    public var generateName: String?
    public var uid: String?
    public var resourceVersion: String?
    public var generation: Int64?
    public var creationTimestamp: String?
    public var deletionTimestamp: String?
    public var deletionGracePeriodSeconds: Int64?
    public var finalizers: [String]?
    public var ownerReferences: [ConfigValue]?
    public var managedFields: [ConfigValue]?

    public init(name: String? = nil, namespace: String? = nil, labels: [String: String]? = nil, annotations: [String: String]? = nil) {
        self.name = name
        self.namespace = namespace
        self.labels = labels
        self.annotations = annotations
    }

    public static let defaultNamespace = "default"

    /// The namespace, defaulting to `default` as Kubernetes does (also when written empty).
    public var effectiveNamespace: String {
        guard let namespace, !namespace.isEmpty else { return Self.defaultNamespace }
        return namespace
    }
}
