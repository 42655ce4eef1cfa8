// What meshd sends one proxy, in the shape of Envoy's own /config_dump.

import ConfigGen
import EnvoyAPI
import Foundation
import SwiftProtobuf

/// Envoy's `ConfigDump` of a connected proxy's resources, with the versions meshd sent, so it
/// can be compared side by side with the proxy's admin `/config_dump`.
public enum ProxyConfigDump {
    public static func make(_ state: ProxyConnection.State) throws -> Envoy_Admin_V3_ConfigDump {
        let sent = { (type: ResourceType) in state.types[type]?.sentVersion ?? "" }
        var clusters = Envoy_Admin_V3_ClustersConfigDump()
        clusters.versionInfo = sent(.cluster)
        clusters.dynamicActiveClusters = try state.resources.clusters.map { cluster in
            var entry = Envoy_Admin_V3_ClustersConfigDump.DynamicCluster()
            entry.cluster = try Google_Protobuf_Any(message: cluster)
            entry.versionInfo = sent(.cluster)
            return entry
        }
        var listeners = Envoy_Admin_V3_ListenersConfigDump()
        listeners.versionInfo = sent(.listener)
        listeners.dynamicListeners = try state.resources.listeners.map { listener in
            var entry = Envoy_Admin_V3_ListenersConfigDump.DynamicListener()
            entry.name = listener.name
            entry.activeState.listener = try Google_Protobuf_Any(message: listener)
            entry.activeState.versionInfo = sent(.listener)
            return entry
        }
        var routes = Envoy_Admin_V3_RoutesConfigDump()
        routes.dynamicRouteConfigs = try state.resources.routes.map { route in
            var entry = Envoy_Admin_V3_RoutesConfigDump.DynamicRouteConfig()
            entry.routeConfig = try Google_Protobuf_Any(message: route)
            entry.versionInfo = sent(.route)
            return entry
        }
        var endpoints = Envoy_Admin_V3_EndpointsConfigDump()
        endpoints.dynamicEndpointConfigs = try state.resources.endpoints.map { assignment in
            var entry = Envoy_Admin_V3_EndpointsConfigDump.DynamicEndpointConfig()
            entry.endpointConfig = try Google_Protobuf_Any(message: assignment)
            entry.versionInfo = sent(.endpoint)
            return entry
        }
        var dump = Envoy_Admin_V3_ConfigDump()
        dump.configs = [
            try Google_Protobuf_Any(message: clusters), try Google_Protobuf_Any(message: listeners),
            try Google_Protobuf_Any(message: routes), try Google_Protobuf_Any(message: endpoints),
        ]
        return dump
    }
}
