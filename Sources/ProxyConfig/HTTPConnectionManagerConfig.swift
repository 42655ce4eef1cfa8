// The HTTP connection manager: where routes come from, which HTTP filters run, and header policy.

import EnvoyAPI

public struct HTTPConnectionManagerConfig: Sendable {
    public enum RouteSource: Sendable {
        /// Routes arrive over RDS under this name.
        case rds(String)
        case inline(RouteTable)
    }

    /// The HTTP filters meshproxy implements, in the order they run. The router is always last.
    public enum HTTPFilter: String, Sendable {
        case fault = "envoy.filters.http.fault"
        case cors = "envoy.filters.http.cors"
        case router = "envoy.filters.http.router"
    }

    /// How `x-forwarded-client-cert` is treated (with mTLS).
    public enum ForwardClientCert: Sendable { case sanitize, forwardOnly, appendForward, sanitizeSet, alwaysForwardOnly }

    public var statPrefix: String
    public var routes: RouteSource
    public var filters: [HTTPFilter]
    /// Trust the connection's peer address as the client's (edge proxies) rather than x-forwarded-for.
    public var useRemoteAddress: Bool
    public var normalizePath: Bool
    public var stripAnyHostPort: Bool
    public var upgradeTypes: [String]
    public var forwardClientCert: ForwardClientCert
    public var setClientCertSubject: Bool
    public var setClientCertURI: Bool
    public var setClientCertDNS: Bool

    init(proto: Envoy_Extensions_Filters_Network_HttpConnectionManager_V3_HttpConnectionManager, limits: ConfigLimits, at path: String) throws {
        var rest = proto
        statPrefix = proto.statPrefix
        rest.statPrefix = ""
        switch proto.routeSpecifier {
        case .rds(let rds)?:
            routes = .rds(rds.routeConfigName)
        case .routeConfig(let table)?:
            routes = .inline(try RouteTable(proto: table, limits: limits, at: path + ".route_config"))
        case .scopedRoutes?, nil:
            throw ProxyConfigError(path, "needs rds or route_config (scoped routes are not supported)")
        }
        rest.routeSpecifier = nil
        filters = try proto.httpFilters.enumerated().map { index, filter in
            guard let known = HTTPFilter(rawValue: filter.name) else {
                throw ProxyConfigError("\(path).http_filters[\(index)]", "HTTP filter \(filter.name) is not supported by meshproxy")
            }
            // Filter-level settings would apply to every route; ConfigGen puts them per route.
            let settingsPath = "\(path).http_filters[\(index)].typed_config"
            switch known {
            case .fault:
                try requireNothingElse(try unpack(filter.typedConfig, as: Envoy_Extensions_Filters_Http_Fault_V3_HTTPFault.self, at: settingsPath), at: settingsPath)
            case .cors:
                try requireNothingElse(try unpack(filter.typedConfig, as: Envoy_Extensions_Filters_Http_Cors_V3_Cors.self, at: settingsPath), at: settingsPath)
            case .router:
                try requireNothingElse(try unpack(filter.typedConfig, as: Envoy_Extensions_Filters_Http_Router_V3_Router.self, at: settingsPath), at: settingsPath)
            }
            return known
        }
        guard filters.last == .router, filters.filter({ $0 == .router }).count == 1 else {
            throw ProxyConfigError(path + ".http_filters", "must end with the one envoy.filters.http.router")
        }
        rest.httpFilters = []
        useRemoteAddress = proto.hasUseRemoteAddress && proto.useRemoteAddress.value
        rest.clearUseRemoteAddress()
        normalizePath = proto.hasNormalizePath && proto.normalizePath.value
        rest.clearNormalizePath()
        if case .stripAnyHostPort(let strip)? = proto.stripPortMode { stripAnyHostPort = strip } else { stripAnyHostPort = false }
        rest.stripPortMode = nil
        upgradeTypes = proto.upgradeConfigs.map { $0.upgradeType.lowercased() }
        rest.upgradeConfigs = []
        switch proto.forwardClientCertDetails {
        case .sanitize: forwardClientCert = .sanitize
        case .forwardOnly: forwardClientCert = .forwardOnly
        case .appendForward: forwardClientCert = .appendForward
        case .sanitizeSet: forwardClientCert = .sanitizeSet
        case .alwaysForwardOnly: forwardClientCert = .alwaysForwardOnly
        case .UNRECOGNIZED(let value):
            throw ProxyConfigError(path + ".forward_client_cert_details", "unknown value \(value)")
        }
        rest.forwardClientCertDetails = .sanitize
        setClientCertSubject = proto.setCurrentClientCertDetails.hasSubject && proto.setCurrentClientCertDetails.subject.value
        setClientCertURI = proto.setCurrentClientCertDetails.uri
        setClientCertDNS = proto.setCurrentClientCertDetails.dns
        rest.clearSetCurrentClientCertDetails()
        try requireNothingElse(rest, at: path)
    }
}
