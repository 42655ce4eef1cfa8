// The label values Istio's stats plugin gives a request: who called whom, how, and with what outcome.

/// A workload as Istio's metrics name it, from a proxy's node metadata (its own) or from what a
/// peer proxy sent (metadata exchange).
public struct WorkloadMetadata: Sendable, Hashable {
    public var workload: String?
    public var namespace: String?
    public var labels: [String: String]
    /// `CLUSTER_ID`; Istio's default is `Kubernetes`.
    public var cluster: String?

    public init(workload: String? = nil, namespace: String? = nil, labels: [String: String] = [:], cluster: String? = nil) {
        self.workload = workload
        self.namespace = namespace
        self.labels = labels
        self.cluster = cluster
    }

    /// Istio's canonical service: the canonical-name label, then `app.kubernetes.io/name`, then
    /// `app`, then the workload's name.
    public var canonicalService: String? {
        labels["service.istio.io/canonical-name"] ?? labels["app.kubernetes.io/name"] ?? labels["app"] ?? workload
    }

    /// Istio's canonical revision: the canonical-revision label, then `app.kubernetes.io/version`,
    /// then `version`, then `latest`.
    public var canonicalRevision: String {
        labels["service.istio.io/canonical-revision"] ?? labels["app.kubernetes.io/version"] ?? labels["version"] ?? "latest"
    }
}

/// What a request's labels are made from, beside its access-log record.
public struct IstioRequestContext: Sendable {
    public enum Reporter: String, Sendable { case source, destination }
    public var reporter: Reporter
    public var source: WorkloadMetadata?
    public var destination: WorkloadMetadata?
    public var sourcePrincipal: String?
    public var destinationPrincipal: String?
    /// The service's host (`reviews.default.svc.cluster.local`), from the cluster or the authority.
    public var destinationService: String?
    /// Whether the downstream connection was mutual TLS; nil where the reporter cannot tell
    /// (a client sidecar reports `unknown`, as Istio's does).
    public var mutualTLS: Bool?

    public init(reporter: Reporter, source: WorkloadMetadata? = nil, destination: WorkloadMetadata? = nil,
                sourcePrincipal: String? = nil, destinationPrincipal: String? = nil, destinationService: String? = nil,
                mutualTLS: Bool? = nil) {
        self.reporter = reporter
        self.source = source
        self.destination = destination
        self.sourcePrincipal = sourcePrincipal
        self.destinationPrincipal = destinationPrincipal
        self.destinationService = destinationService
        self.mutualTLS = mutualTLS
    }

    /// `connection_security_policy`.
    public var securityPolicy: IstioSecurityPolicy {
        guard let mutualTLS else { return .unknown }
        return mutualTLS ? .mutualTLS : .none
    }

    /// The series of a finished request.
    public func requestSeries(_ record: AccessLogRecord) -> IstioRequestSeries {
        IstioRequestSeries(peer: peerLabels(), security: securityPolicy, record: record)
    }

    /// The series of a TCP connection.
    public func connectionSeries(_ record: AccessLogRecord) -> IstioConnectionSeries {
        IstioConnectionSeries(peer: peerLabels(), security: securityPolicy, flags: record.responseFlags)
    }

    /// reporter through destination_cluster: the labels every request between the same two
    /// workloads for one service shares.
    public func peerLabels() -> IstioPeerLabels {
        let unknown = "unknown"
        let (serviceName, serviceNamespace) = Self.serviceParts(destinationService)
        return IstioPeerLabels([
            reporter.rawValue,
            source?.workload ?? unknown, source?.canonicalService ?? unknown, source?.canonicalRevision ?? unknown,
            source?.namespace ?? unknown, sourcePrincipal ?? unknown,
            source?.labels["app"] ?? unknown, source?.labels["version"] ?? unknown, source?.cluster ?? unknown,
            destination?.workload ?? unknown, destination?.namespace ?? unknown, destinationPrincipal ?? unknown,
            destination?.labels["app"] ?? unknown, destination?.labels["version"] ?? unknown,
            destinationService ?? unknown, serviceName ?? unknown, serviceNamespace ?? destination?.namespace ?? unknown,
            destination?.canonicalService ?? unknown, destination?.canonicalRevision ?? unknown, destination?.cluster ?? unknown,
        ])
    }

    /// `reviews.default.svc.cluster.local` → (`reviews`, `default`); another host is its own name.
    static func serviceParts(_ host: String?) -> (String?, String?) {
        guard let host else { return (nil, nil) }
        let parts = host.split(separator: ".", maxSplits: 3, omittingEmptySubsequences: false)
        if parts.count >= 3, parts[2] == "svc" { return (String(parts[0]), String(parts[1])) }
        return (host, nil)
    }
}
