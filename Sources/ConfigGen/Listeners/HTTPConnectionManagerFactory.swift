// The envoy.filters.network.http_connection_manager filter of HTTP listeners, with RDS or an inline route config.

import EnvoyAPI
import SwiftProtobuf

/// Builds the HTTP connection manager Istio puts on HTTP listeners.
enum HTTPConnectionManagerFactory {
    static let filterName = "envoy.filters.network.http_connection_manager"

    /// Where the manager's routes come from.
    enum Routes {
        /// Over ADS by route configuration name (outbound and gateway listeners).
        case rds(String)
        /// Carried in the listener (inbound listeners: one fixed route to the workload).
        case inline(Envoy_Config_Route_V3_RouteConfiguration)
    }

    /// Sidecars and gateways differ as in Istio: a gateway faces clients, so it trusts the
    /// remote address (`use_remote_address`) and ignores the port in Host when choosing a
    /// virtual host (its virtual hosts list bare names).
    static func filter(statPrefix: String, routes: Routes, forGateway: Bool = false, peerCertificate: Bool = false) throws -> Envoy_Config_Listener_V3_Filter {
        var manager = Envoy_Extensions_Filters_Network_HttpConnectionManager_V3_HttpConnectionManager()
        manager.statPrefix = statPrefix
        if peerCertificate {
            // Behind mTLS the app learns who called: the peer's identity in x-forwarded-client-cert,
            // replacing whatever the caller put there (Istio's inbound setting).
            manager.forwardClientCertDetails = .sanitizeSet
            manager.setCurrentClientCertDetails.subject = Google_Protobuf_BoolValue(true)
            manager.setCurrentClientCertDetails.uri = true
            manager.setCurrentClientCertDetails.dns = true
        }
        switch routes {
        case .rds(let name):
            manager.rds.routeConfigName = name
            manager.rds.configSource.ads = Envoy_Config_Core_V3_AggregatedConfigSource()
            manager.rds.configSource.resourceApiVersion = .v3
        case .inline(let config):
            manager.routeConfig = config
        }
        manager.httpFilters = try HTTPFilters.chain()
        manager.useRemoteAddress = Google_Protobuf_BoolValue(forGateway)
        if forGateway { manager.stripAnyHostPort = true }
        manager.normalizePath = Google_Protobuf_BoolValue(true)
        // WebSocket upgrades are allowed on every HTTP route in Istio.
        var websocket = Envoy_Extensions_Filters_Network_HttpConnectionManager_V3_HttpConnectionManager.UpgradeConfig()
        websocket.upgradeType = "websocket"
        manager.upgradeConfigs = [websocket]
        var filter = Envoy_Config_Listener_V3_Filter()
        filter.name = filterName
        filter.typedConfig = try Google_Protobuf_Any(message: manager)
        return filter
    }
}
