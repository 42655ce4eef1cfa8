// What meshd sends one proxy, in the shape of Envoy's own /config_dump.

import ConfigGen
import EnvoyAPI
import Foundation
import SwiftProtobuf
import XDSClient

/// Envoy's `ConfigDump` of a connected proxy's resources, with the versions meshd sent, so it
/// can be compared side by side with the proxy's admin `/config_dump`.
public enum ProxyConfigDump {
    public static func make(_ state: ProxyConnection.State) throws -> Envoy_Admin_V3_ConfigDump {
        let sent = { (type: ResourceType) in state.types[type]?.sentVersion ?? "" }
        // The bodies are the packed resources exactly as sent, in name order.
        let bodies = { (type: ResourceType) in state.resources[type].sorted { $0.key < $1.key }.map(\.value.body) }
        var clusters = Envoy_Admin_V3_ClustersConfigDump()
        clusters.versionInfo = sent(.cluster)
        clusters.dynamicActiveClusters = bodies(.cluster).map { body in
            var entry = Envoy_Admin_V3_ClustersConfigDump.DynamicCluster()
            entry.cluster = body
            entry.versionInfo = sent(.cluster)
            return entry
        }
        var listeners = Envoy_Admin_V3_ListenersConfigDump()
        listeners.versionInfo = sent(.listener)
        listeners.dynamicListeners = state.resources[.listener].sorted { $0.key < $1.key }.map { name, resource in
            var entry = Envoy_Admin_V3_ListenersConfigDump.DynamicListener()
            entry.name = name
            entry.activeState.listener = resource.body
            entry.activeState.versionInfo = sent(.listener)
            return entry
        }
        var routes = Envoy_Admin_V3_RoutesConfigDump()
        routes.dynamicRouteConfigs = bodies(.route).map { body in
            var entry = Envoy_Admin_V3_RoutesConfigDump.DynamicRouteConfig()
            entry.routeConfig = body
            entry.versionInfo = sent(.route)
            return entry
        }
        var endpoints = Envoy_Admin_V3_EndpointsConfigDump()
        endpoints.dynamicEndpointConfigs = bodies(.endpoint).map { body in
            var entry = Envoy_Admin_V3_EndpointsConfigDump.DynamicEndpointConfig()
            entry.endpointConfig = body
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
