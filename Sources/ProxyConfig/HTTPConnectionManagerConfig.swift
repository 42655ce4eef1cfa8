// The HTTP connection manager: where routes come from, which HTTP filters run, and header policy.

import EnvoyAPI
import SwiftProtobuf
import Telemetry

/// A class: every request of a connection refers to it, and a reference is one retain.
public final class HTTPConnectionManagerConfig: Sendable {
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

    public let statPrefix: String
    public let routes: RouteSource
    public let filters: [HTTPFilter]
    /// Trust the connection's peer address as the client's (edge proxies) rather than x-forwarded-for.
    public let useRemoteAddress: Bool
    public let normalizePath: Bool
    public let stripAnyHostPort: Bool
    public let upgradeTypes: [String]
    public let forwardClientCert: ForwardClientCert
    public let setClientCertSubject: Bool
    public let setClientCertURI: Bool
    public let setClientCertDNS: Bool
    /// The downstream edge's limits and clocks (Envoy's defaults where unset).
    public let downstream: DownstreamLimits
    /// Which HTTP versions downstream clients may speak (`codec_type`). With `auto` (the
    /// default, and what Istio sends) HTTP/2's connection preface selects HTTP/2 (h2c with prior
    /// knowledge); anything else is HTTP/1.1.
    public let codec: Codec
    public enum Codec: Sendable { case auto, http1, http2 }
    /// Where each finished request is logged (none: no access log).
    public let accessLogs: [AccessLogConfig]
    /// Istio's standard metrics for this chain's requests (nil: none recorded).
    public let istioMetrics: IstioMetricsSettings?
    /// Spans for this manager's requests, and the trace context they pass on (nil: none).
    public let tracing: TracingConfig?
    /// An access-log record is kept for each request: logs, metrics and spans are made from it.
    public var recordsRequests: Bool { !accessLogs.isEmpty || istioMetrics != nil || tracing != nil }

    init(proto: Envoy_Extensions_Filters_Network_HttpConnectionManager_V3_HttpConnectionManager, istioMetrics: IstioMetricsSettings? = nil,
         direction: ListenerConfig.Direction = .unspecified, limits: ConfigLimits, at path: String) throws {
        self.istioMetrics = istioMetrics
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
        accessLogs = try AccessLogConfig.list(proto.accessLog, limits: limits, at: path)
        rest.accessLog = []
        tracing = try TracingConfig.parse(proto, direction: direction, at: path)
        rest.clearTracing()
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
        upgradeTypes = try proto.upgradeConfigs.enumerated().compactMap { index, upgrade in
            var upgradeRest = upgrade
            upgradeRest.upgradeType = ""
            upgradeRest.clearEnabled()
            try requireNothingElse(upgradeRest, at: "\(path).upgrade_configs[\(index)]")
            return upgrade.hasEnabled && !upgrade.enabled.value ? nil : upgrade.upgradeType.lowercased()
        }
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
        downstream = try DownstreamLimits(manager: proto, at: path)
        rest.clearMaxRequestHeadersKb()
        rest.clearStreamIdleTimeout()
        rest.clearRequestHeadersTimeout()
        rest.clearRequestTimeout()
        var common = rest.commonHTTPProtocolOptions
        common.clearIdleTimeout()
        common.clearMaxHeadersCount()
        common.clearMaxRequestsPerConnection()
        try requireNothingElse(common, at: path + ".common_http_protocol_options")
        rest.clearCommonHTTPProtocolOptions()
        switch proto.codecType {
        case .auto: codec = .auto
        case .http1: codec = .http1
        case .http2: codec = .http2
        case .http3: throw ProxyConfigError(path + ".codec_type", "HTTP3 is not supported by meshproxy")
        case .UNRECOGNIZED(let value): throw ProxyConfigError(path + ".codec_type", "unknown value \(value)")
        }
        rest.codecType = .auto
        // HTTP/2's settings: the defaults are what meshproxy's HTTP/2 codec does; any set field is named.
        try requireNothingElse(rest.http2ProtocolOptions, at: path + ".http2_protocol_options")
        rest.clearHTTP2ProtocolOptions()
        var http1 = rest.httpProtocolOptions
        http1.clearAllowAbsoluteURL()
        try requireNothingElse(http1, at: path + ".http_protocol_options")
        rest.clearHTTPProtocolOptions()
        try requireNothingElse(rest, at: path)
    }
}

/// What a downstream HTTP connection may send and how long it may take, from the HTTP connection
/// manager. Unset fields take Envoy's defaults, so a config means the same on both proxies.
public struct DownstreamLimits: Sendable, Equatable {
    /// Request line plus headers, in bytes (`max_request_headers_kb`, default 60 KiB): beyond it, 431.
    public var maxRequestHeadersBytes: Int
    /// Header fields per request (`common_http_protocol_options.max_headers_count`, default 100): beyond it, 431.
    public var maxHeadersCount: Int
    /// A connection with no request in flight for this long is closed (`idle_timeout`, default 1 h).
    public var idleTimeout: Duration?
    /// The whole request head must arrive within this (`request_headers_timeout`, default none): else 408.
    public var requestHeadersTimeout: Duration?
    /// A request that makes no progress (head or body bytes) for this long ends (`stream_idle_timeout`,
    /// default 5 min): 408 if nothing was answered yet, else the connection is reset.
    public var streamIdleTimeout: Duration?
    /// The whole request must arrive within this (`request_timeout`, default none): else 408.
    public var requestTimeout: Duration?
    /// Requests served per connection before it closes (`max_requests_per_connection`, default no limit).
    public var maxRequestsPerConnection: Int?
    /// Absolute-form targets (`GET http://host/path`) are accepted and routed by their authority.
    public var allowAbsoluteURL: Bool

    public static let envoyDefaults = DownstreamLimits(
        maxRequestHeadersBytes: 60 * 1024, maxHeadersCount: 100, idleTimeout: .seconds(3600), requestHeadersTimeout: nil,
        streamIdleTimeout: .seconds(300), requestTimeout: nil, maxRequestsPerConnection: nil, allowAbsoluteURL: true)

    public init(maxRequestHeadersBytes: Int, maxHeadersCount: Int, idleTimeout: Duration?, requestHeadersTimeout: Duration?,
                streamIdleTimeout: Duration?, requestTimeout: Duration?, maxRequestsPerConnection: Int?, allowAbsoluteURL: Bool) {
        self.maxRequestHeadersBytes = maxRequestHeadersBytes
        self.maxHeadersCount = maxHeadersCount
        self.idleTimeout = idleTimeout
        self.requestHeadersTimeout = requestHeadersTimeout
        self.streamIdleTimeout = streamIdleTimeout
        self.requestTimeout = requestTimeout
        self.maxRequestsPerConnection = maxRequestsPerConnection
        self.allowAbsoluteURL = allowAbsoluteURL
    }

    init(manager proto: Envoy_Extensions_Filters_Network_HttpConnectionManager_V3_HttpConnectionManager, at path: String) throws {
        self = .envoyDefaults
        if proto.hasMaxRequestHeadersKb {
            let kb = proto.maxRequestHeadersKb.value
            // Envoy's own bounds for the field.
            guard kb > 0, kb <= 8192 else {
                throw ProxyConfigError(path + ".max_request_headers_kb", "must be 1 to 8192, got \(kb)")
            }
            maxRequestHeadersBytes = Int(kb) * 1024
        }
        // A zero duration turns a timeout off, as in Envoy.
        func optional(_ duration: Google_Protobuf_Duration) -> Duration? {
            duration.swiftDuration == .zero ? nil : duration.swiftDuration
        }
        if proto.hasStreamIdleTimeout { streamIdleTimeout = optional(proto.streamIdleTimeout) }
        if proto.hasRequestHeadersTimeout { requestHeadersTimeout = optional(proto.requestHeadersTimeout) }
        if proto.hasRequestTimeout { requestTimeout = optional(proto.requestTimeout) }
        let common = proto.commonHTTPProtocolOptions
        if common.hasIdleTimeout { idleTimeout = optional(common.idleTimeout) }
        if common.hasMaxHeadersCount {
            guard common.maxHeadersCount.value >= 1 else {
                throw ProxyConfigError(path + ".common_http_protocol_options.max_headers_count", "must be at least 1")
            }
            maxHeadersCount = Int(common.maxHeadersCount.value)
        }
        if common.hasMaxRequestsPerConnection, common.maxRequestsPerConnection.value > 0 {
            maxRequestsPerConnection = Int(common.maxRequestsPerConnection.value)
        }
        if proto.httpProtocolOptions.hasAllowAbsoluteURL { allowAbsoluteURL = proto.httpProtocolOptions.allowAbsoluteURL.value }
    }
}
