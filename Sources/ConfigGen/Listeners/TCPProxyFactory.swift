// The envoy.filters.network.tcp_proxy filter of TCP listeners and filter chains: one cluster or weighted ones.

import EnvoyAPI
import SwiftProtobuf

/// Builds tcp_proxy filters; the stat prefix is the (first) cluster's name, as in Istio.
enum TCPProxyFactory {
    static let filterName = "envoy.filters.network.tcp_proxy"

    static func filter(cluster: String) throws -> Envoy_Config_Listener_V3_Filter {
        var proxy = Envoy_Extensions_Filters_Network_TcpProxy_V3_TcpProxy()
        proxy.statPrefix = cluster
        proxy.cluster = cluster
        return try wrap(proxy)
    }

    /// Several destinations by weight; a single one is a plain cluster.
    static func filter(weightedClusters: [(name: String, weight: UInt32)]) throws -> Envoy_Config_Listener_V3_Filter {
        if weightedClusters.count == 1 { return try filter(cluster: weightedClusters[0].name) }
        var proxy = Envoy_Extensions_Filters_Network_TcpProxy_V3_TcpProxy()
        proxy.statPrefix = weightedClusters.first?.name ?? "tcp"
        var weighted = Envoy_Extensions_Filters_Network_TcpProxy_V3_TcpProxy.WeightedCluster()
        for (name, weight) in weightedClusters {
            var cluster = Envoy_Extensions_Filters_Network_TcpProxy_V3_TcpProxy.WeightedCluster.ClusterWeight()
            cluster.name = name
            cluster.weight = weight
            weighted.clusters.append(cluster)
        }
        proxy.weightedClusters = weighted
        return try wrap(proxy)
    }

    private static func wrap(_ proxy: Envoy_Extensions_Filters_Network_TcpProxy_V3_TcpProxy) throws -> Envoy_Config_Listener_V3_Filter {
        var filter = Envoy_Config_Listener_V3_Filter()
        filter.name = filterName
        filter.typedConfig = try Google_Protobuf_Any(message: proxy)
        return filter
    }
}
