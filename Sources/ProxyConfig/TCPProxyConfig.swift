// The TCP proxy network filter: bytes to one cluster, or to one of several by weight.

import EnvoyAPI

public struct TCPProxyConfig: Sendable {
    public var statPrefix: String
    public var clusters: WeightedChoice
    public var idleTimeout: Duration?
    /// Where each closed connection is logged.
    public var accessLogs: [AccessLogConfig]
    /// Istio's TCP metrics for this chain's connections (nil: none recorded).
    public var istioMetrics: IstioMetricsSettings?
    /// Istio's metadata exchange with the client's proxy, from an `istio.metadata_exchange`
    /// filter in front of this one (inbound mesh mTLS chains of meshproxy nodes).
    public var metadataExchange: MetadataExchangeConfig?

    init(proto: Envoy_Extensions_Filters_Network_TcpProxy_V3_TcpProxy, istioMetrics: IstioMetricsSettings? = nil, limits: ConfigLimits, at path: String) throws {
        self.istioMetrics = istioMetrics
        var rest = proto
        accessLogs = try AccessLogConfig.list(proto.accessLog, limits: limits, at: path)
        rest.accessLog = []
        statPrefix = proto.statPrefix
        rest.statPrefix = ""
        switch proto.clusterSpecifier {
        case .cluster(let name)?:
            clusters = WeightedChoice(single: name)
        case .weightedClusters(let weighted)?:
            clusters = try WeightedChoice(weighted.clusters.enumerated().map { index, cluster in
                var clusterRest = cluster
                clusterRest.name = ""
                clusterRest.weight = 0
                try requireNothingElse(clusterRest, at: "\(path).weighted_clusters.clusters[\(index)]")
                return WeightedChoice.Entry(cluster: cluster.name, weight: Int(cluster.weight), requestHeadersToAdd: [], requestHeadersToRemove: [])
            }, at: path + ".weighted_clusters")
        case nil:
            throw ProxyConfigError(path, "needs cluster or weighted_clusters")
        }
        rest.clusterSpecifier = nil
        // Envoy's default: one hour without bytes either way closes the connection; 0 disables.
        idleTimeout = proto.hasIdleTimeout ? (proto.idleTimeout.swiftDuration == .zero ? nil : proto.idleTimeout.swiftDuration) : .seconds(3600)
        rest.clearIdleTimeout()
        try requireNothingElse(rest, at: path)
    }
}

/// A choice among clusters by weight (a route's weighted_clusters, a TCP proxy's).
public struct WeightedChoice: Sendable {
    public struct Entry: Sendable {
        public var cluster: String
        public var weight: Int
        public var requestHeadersToAdd: [HeaderToAdd]
        public var requestHeadersToRemove: [String]
    }

    public var entries: [Entry]
    public var totalWeight: Int

    init(single cluster: String) {
        entries = [Entry(cluster: cluster, weight: 1, requestHeadersToAdd: [], requestHeadersToRemove: [])]
        totalWeight = 1
    }

    init(_ entries: [Entry], at path: String) throws {
        self.entries = entries.filter { $0.weight > 0 }
        totalWeight = self.entries.reduce(0) { $0 + $1.weight }
        guard totalWeight > 0 else { throw ProxyConfigError(path, "no cluster has a positive weight") }
    }

    /// The entry for a draw in 0..<totalWeight.
    public func pick(_ draw: Int) -> Entry {
        var remaining = draw
        for entry in entries {
            if remaining < entry.weight { return entry }
            remaining -= entry.weight
        }
        return entries[entries.count - 1]
    }
}
