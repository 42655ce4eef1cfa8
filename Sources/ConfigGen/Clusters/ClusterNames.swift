// Istio's cluster names, which dashboards, `proxy-config` and operators already know.

public enum ClusterNames {
    /// `outbound|9080|v1|reviews.default.svc.cluster.local` (no subset: `outbound|9080||...`).
    public static func outbound(port: UInt32, subset: String? = nil, host: String) -> String {
        "outbound|\(port)|\(subset ?? "")|\(host)"
    }

    /// `inbound|9080||`: traffic into the proxy's own workload on that port.
    public static func inbound(port: UInt32) -> String {
        "inbound|\(port)||"
    }

    /// Where traffic to unknown destinations goes under REGISTRY_ONLY.
    public static let blackHole = "BlackHoleCluster"
    /// Where traffic to unknown destinations goes under ALLOW_ANY.
    public static let passthrough = "PassthroughCluster"
}
