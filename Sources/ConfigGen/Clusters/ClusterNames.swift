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

extension ClusterNames {
    /// The host of an `outbound|port|subset|host` name; nil for any other cluster.
    static func outboundHost(_ name: String) -> String? {
        let parts = name.split(separator: "|", omittingEmptySubsequences: false)
        guard parts.count == 4, parts[0] == "outbound" else { return nil }
        return String(parts[3])
    }
}
