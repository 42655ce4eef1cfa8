// Puts a proxy's access logs on every HTTP connection manager and TCP proxy of its listeners, and on the listeners.

import EnvoyAPI
import MeshModel
import SwiftProtobuf

/// Istio attaches access logs per listener class: inbound listeners log what the workload
/// serves (Telemetry mode SERVER), outbound and gateway listeners what it calls (CLIENT). Done
/// after the listeners are built, in one place, because every listener builder makes HTTP
/// connection managers and TCP proxies and none needs to know about logging.
enum AccessLogAttachment {
    static func attach(to listeners: inout [Envoy_Config_Listener_V3_Listener], snapshot: MeshSnapshot, proxy: MeshProxy) throws {
        let client = try AccessLogTranslator.accessLogs(snapshot.accessLogs(namespace: proxy.namespace, labels: proxy.labels, clientSide: true))
        let server = try AccessLogTranslator.accessLogs(snapshot.accessLogs(namespace: proxy.namespace, labels: proxy.labels, clientSide: false))
        guard !client.isEmpty || !server.isEmpty else { return }
        for index in listeners.indices {
            let logs = listeners[index].trafficDirection == .inbound ? server : client
            guard !logs.isEmpty else { continue }
            for chain in listeners[index].filterChains.indices {
                try attach(logs, to: &listeners[index].filterChains[chain].filters)
            }
            if listeners[index].hasDefaultFilterChain {
                try attach(logs, to: &listeners[index].defaultFilterChain.filters)
            }
            listeners[index].accessLog = logs.map(listenerLog)
        }
    }

    /// The listener's own log of a log: Istio writes connections that no filter chain took
    /// (flag NR) and nothing else at listener level, whatever the Telemetry filter says of
    /// requests, since such a connection has no request to filter on.
    private static func listenerLog(_ log: Envoy_Config_Accesslog_V3_AccessLog) -> Envoy_Config_Accesslog_V3_AccessLog {
        var log = log
        var noRoute = Envoy_Config_Accesslog_V3_ResponseFlagFilter()
        noRoute.flags = ["NR"]
        log.filter = Envoy_Config_Accesslog_V3_AccessLogFilter()
        log.filter.responseFlagFilter = noRoute
        return log
    }

    private static func attach(_ logs: [Envoy_Config_Accesslog_V3_AccessLog], to filters: inout [Envoy_Config_Listener_V3_Filter]) throws {
        for index in filters.indices {
            switch filters[index].name {
            case HTTPConnectionManagerFactory.filterName:
                var manager = try Envoy_Extensions_Filters_Network_HttpConnectionManager_V3_HttpConnectionManager(unpackingAny: filters[index].typedConfig)
                manager.accessLog = logs
                filters[index].typedConfig = try Google_Protobuf_Any(message: manager)
            case TCPProxyFactory.filterName:
                var proxy = try Envoy_Extensions_Filters_Network_TcpProxy_V3_TcpProxy(unpackingAny: filters[index].typedConfig)
                proxy.accessLog = logs
                filters[index].typedConfig = try Google_Protobuf_Any(message: proxy)
            default:
                break
            }
        }
    }
}
