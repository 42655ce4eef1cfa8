// Inbound clusters (`inbound|<port>||`): where a sidecar delivers traffic to its own workload.

import EnvoyAPI
import MeshModel
import SwiftProtobuf

/// Where the workload's app listens for one inbound port: a socket address or a Unix socket.
enum InboundEndpoint: Equatable {
    case socket(host: String, port: UInt32)
    case pipe(path: String)

    /// Istio's `defaultEndpoint` forms: `127.0.0.1:PORT`, `[::1]:PORT`, `:PORT` (loopback),
    /// `0.0.0.0:PORT` (the instance address), `unix:///path`.
    init?(defaultEndpoint: String, instanceAddress: String) {
        if defaultEndpoint.hasPrefix("unix://") {
            self = .pipe(path: String(defaultEndpoint.dropFirst("unix://".count)))
            return
        }
        guard let colon = defaultEndpoint.lastIndex(of: ":"), let port = UInt32(defaultEndpoint[defaultEndpoint.index(after: colon)...]) else { return nil }
        var host = String(defaultEndpoint[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        switch host {
        case "", "127.0.0.1": self = .socket(host: "127.0.0.1", port: port)
        case "0.0.0.0", "::": self = .socket(host: instanceAddress, port: port)
        default: self = .socket(host: host, port: port)
        }
    }

    var address: Envoy_Config_Core_V3_Address {
        switch self {
        case .socket(let host, let port):
            return BootstrapGenerator.socketAddress(host, port)
        case .pipe(let path):
            var address = Envoy_Config_Core_V3_Address()
            address.pipe.path = path
            return address
        }
    }
}

/// STATIC clusters to the app, one per inbound port; the endpoint is fixed, so no EDS.
enum InboundClusterGenerator {
    static func cluster(port: UInt32, endpoint: InboundEndpoint) -> Envoy_Config_Cluster_V3_Cluster {
        var cluster = Envoy_Config_Cluster_V3_Cluster()
        cluster.name = ClusterNames.inbound(port: port)
        cluster.type = .static
        cluster.connectTimeout = Google_Protobuf_Duration(seconds: 10)
        var lbEndpoint = Envoy_Config_Endpoint_V3_LbEndpoint()
        lbEndpoint.endpoint.address = endpoint.address
        var group = Envoy_Config_Endpoint_V3_LocalityLbEndpoints()
        group.lbEndpoints = [lbEndpoint]
        cluster.loadAssignment.clusterName = cluster.name
        cluster.loadAssignment.endpoints = [group]
        return cluster
    }

    /// Istio's cluster for captured inbound traffic to ports no listener names (REDIRECT mode):
    /// sent on to where it was going, from 127.0.0.6 so the app's own sidecar does not capture it again.
    static let inboundPassthroughName = "InboundPassthroughCluster"

    static func inboundPassthrough() -> Envoy_Config_Cluster_V3_Cluster {
        var cluster = Envoy_Config_Cluster_V3_Cluster()
        cluster.name = inboundPassthroughName
        cluster.type = .originalDst
        cluster.lbPolicy = .clusterProvided
        cluster.connectTimeout = Google_Protobuf_Duration(seconds: 10)
        cluster.upstreamBindConfig.sourceAddress.address = "127.0.0.6"
        cluster.upstreamBindConfig.sourceAddress.portValue = 0
        return cluster
    }
}
