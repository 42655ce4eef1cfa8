// The HTTP filter chain of every HTTP connection manager: fault, CORS, router, in Istio's order.

import EnvoyAPI
import SwiftProtobuf

/// The HTTP filters ConfigGen installs. Fault and CORS do nothing until a route carries their
/// per-route config, so they are always present, as in Istio; all are in stock Envoy.
enum HTTPFilters {
    static let faultName = "envoy.filters.http.fault"
    static let corsName = "envoy.filters.http.cors"
    static let routerName = "envoy.filters.http.router"

    static func chain() throws -> [Envoy_Extensions_Filters_Network_HttpConnectionManager_V3_HttpFilter] {
        [
            try filter(faultName, Envoy_Extensions_Filters_Http_Fault_V3_HTTPFault()),
            try filter(corsName, Envoy_Extensions_Filters_Http_Cors_V3_Cors()),
            try filter(routerName, Envoy_Extensions_Filters_Http_Router_V3_Router()),
        ]
    }

    private static func filter(_ name: String, _ config: some SwiftProtobuf.Message) throws -> Envoy_Extensions_Filters_Network_HttpConnectionManager_V3_HttpFilter {
        var filter = Envoy_Extensions_Filters_Network_HttpConnectionManager_V3_HttpFilter()
        filter.name = name
        filter.typedConfig = try Google_Protobuf_Any(message: config)
        return filter
    }
}
