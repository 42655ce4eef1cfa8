// VirtualService: how requests to a host are matched and routed.

/// `networking.istio.io` VirtualService spec.
public struct VirtualService: Codable, Hashable, Sendable {
    public var hosts: [String]?
    public var gateways: [String]?
    public var http: [HTTPRoute]?
    public var tls: [TLSRoute]?
    public var tcp: [TCPRoute]?
    public var exportTo: [String]?

    public init(hosts: [String]? = nil, gateways: [String]? = nil, http: [HTTPRoute]? = nil,
                tls: [TLSRoute]? = nil, tcp: [TCPRoute]? = nil, exportTo: [String]? = nil) {
        self.hosts = hosts
        self.gateways = gateways
        self.http = http
        self.tls = tls
        self.tcp = tcp
        self.exportTo = exportTo
    }
}

/// One HTTP rule: matches, and where matching requests go (or what they get back).
public struct HTTPRoute: Codable, Hashable, Sendable {
    public var name: String?
    public var match: [HTTPMatchRequest]?
    public var route: [HTTPRouteDestination]?
    public var redirect: HTTPRedirect?
    public var directResponse: HTTPDirectResponse?
    public var delegate: Delegate?
    public var rewrite: HTTPRewrite?
    public var timeout: ProtoDuration?
    public var retries: HTTPRetry?
    public var fault: HTTPFaultInjection?
    public var mirror: Destination?
    public var mirrors: [HTTPMirrorPolicy]?
    /// Deprecated in Istio (use `mirrorPercentage`); accepted.
    public var mirrorPercent: UInt32?
    public var mirrorPercentage: Percent?
    public var corsPolicy: CorsPolicy?
    public var headers: Headers?

    public init(name: String? = nil, match: [HTTPMatchRequest]? = nil, route: [HTTPRouteDestination]? = nil) {
        self.name = name
        self.match = match
        self.route = route
    }
}

/// Refers to a VirtualService that holds the routes (delegation).
public struct Delegate: Codable, Hashable, Sendable {
    public var name: String?
    public var namespace: String?
}

/// Conditions on an HTTP request; all must hold for a match.
public struct HTTPMatchRequest: Codable, Hashable, Sendable {
    public var name: String?
    public var uri: StringMatch?
    public var scheme: StringMatch?
    public var method: StringMatch?
    public var authority: StringMatch?
    public var headers: [String: StringMatch]?
    public var port: UInt32?
    public var sourceLabels: [String: String]?
    public var gateways: [String]?
    public var queryParams: [String: StringMatch]?
    public var ignoreUriCase: Bool?
    public var withoutHeaders: [String: StringMatch]?
    public var sourceNamespace: String?
    public var statPrefix: String?

    public init(uri: StringMatch? = nil, headers: [String: StringMatch]? = nil) {
        self.uri = uri
        self.headers = headers
    }
}

/// A weighted destination of an HTTP route, with its own header edits.
public struct HTTPRouteDestination: Codable, Hashable, Sendable {
    public var destination: Destination?
    public var weight: Int32?
    public var headers: Headers?

    public init(destination: Destination? = nil, weight: Int32? = nil) {
        self.destination = destination
        self.weight = weight
    }
}

/// A destination of a TLS or TCP route.
public struct RouteDestination: Codable, Hashable, Sendable {
    public var destination: Destination?
    public var weight: Int32?
}

/// A rule for TLS traffic, matched by SNI without terminating TLS.
public struct TLSRoute: Codable, Hashable, Sendable {
    public var match: [TLSMatchAttributes]?
    public var route: [RouteDestination]?
}

/// A rule for opaque TCP traffic.
public struct TCPRoute: Codable, Hashable, Sendable {
    public var match: [L4MatchAttributes]?
    public var route: [RouteDestination]?
}

/// Connection-level conditions: port, destination subnets, source labels.
public struct L4MatchAttributes: Codable, Hashable, Sendable {
    public var destinationSubnets: [String]?
    public var port: UInt32?
    public var sourceSubnet: String?
    public var sourceLabels: [String: String]?
    public var gateways: [String]?
    public var sourceNamespace: String?
}

/// Conditions on a TLS connection: SNI hosts, port, source.
public struct TLSMatchAttributes: Codable, Hashable, Sendable {
    public var sniHosts: [String]?
    public var destinationSubnets: [String]?
    public var port: UInt32?
    public var sourceLabels: [String: String]?
    public var gateways: [String]?
    public var sourceNamespace: String?
}

/// Answer with a redirect instead of forwarding.
public struct HTTPRedirect: Codable, Hashable, Sendable {
    /// Which port a redirect keeps.
    public enum RedirectPortSelection: String, ConfigEnum {
        case FROM_PROTOCOL_DEFAULT, FROM_REQUEST_PORT
    }

    public var uri: String?
    public var authority: String?
    public var port: UInt32?
    public var derivePort: RedirectPortSelection?
    public var scheme: String?
    public var redirectCode: UInt32?
}

/// Answer directly with a fixed status and body instead of forwarding.
public struct HTTPDirectResponse: Codable, Hashable, Sendable {
    public var status: UInt32?
    public var body: HTTPBody?
}

/// A direct response body: `string`, or `bytes` in base64.
public struct HTTPBody: Codable, Hashable, Sendable {
    public var string: String?
    public var bytes: String?
}

/// Rewrite the path or authority before forwarding.
public struct HTTPRewrite: Codable, Hashable, Sendable {
    public var uri: String?
    public var authority: String?
    public var uriRegexRewrite: RegexRewrite?
}

/// Rewrite the path with a regex (RE2) and a substitution.
public struct RegexRewrite: Codable, Hashable, Sendable {
    public var match: String?
    public var rewrite: String?
}

/// How many times, on which failures and with what per-try timeout to retry.
public struct HTTPRetry: Codable, Hashable, Sendable {
    public var attempts: Int32?
    public var perTryTimeout: ProtoDuration?
    /// Comma-separated retry conditions.
    public var retryOn: String?
    public var retryRemoteLocalities: Bool?
    public var retryIgnorePreviousHosts: Bool?
    public var backoff: ProtoDuration?
}

/// Cross-origin resource sharing, answered by the proxy.
public struct CorsPolicy: Codable, Hashable, Sendable {
    /// What to do with CORS preflight requests whose origin does not match.
    public enum UnmatchedPreflights: String, ConfigEnum {
        case UNSPECIFIED, FORWARD, IGNORE
    }

    /// Deprecated in Istio (use `allowOrigins`); accepted.
    public var allowOrigin: [String]?
    public var allowOrigins: [StringMatch]?
    public var allowMethods: [String]?
    public var allowHeaders: [String]?
    public var exposeHeaders: [String]?
    public var maxAge: ProtoDuration?
    public var allowCredentials: Bool?
    public var unmatchedPreflights: UnmatchedPreflights?
}

/// Delays and aborts injected into a share of requests, for testing resilience.
public struct HTTPFaultInjection: Codable, Hashable, Sendable {
    /// A fixed delay before forwarding.
    public struct Delay: Codable, Hashable, Sendable {
        /// Deprecated in Istio (use `percentage`); accepted.
        public var percent: Int32?
        public var fixedDelay: ProtoDuration?
        public var exponentialDelay: ProtoDuration?
        public var percentage: Percent?
    }

    /// An error answered instead of forwarding.
    public struct Abort: Codable, Hashable, Sendable {
        public var httpStatus: Int32?
        public var grpcStatus: String?
        public var http2Error: String?
        public var percentage: Percent?
    }

    public var delay: Delay?
    public var abort: Abort?
}

/// Copy a share of requests to another destination, ignoring its answers.
public struct HTTPMirrorPolicy: Codable, Hashable, Sendable {
    public var destination: Destination?
    public var percentage: Percent?
}

extension HTTPRoute: RemovedFields {
    static let removedFields = [
        "websocketUpgrade": "WebSocket upgrades are allowed on every HTTP route now; delete the field",
        "appendHeaders": "use headers.request.add",
        "appendRequestHeaders": "use headers.request.add",
        "removeRequestHeaders": "use headers.request.remove",
        "appendResponseHeaders": "use headers.response.add",
        "removeResponseHeaders": "use headers.response.remove",
    ]
}

extension HTTPFaultInjection.Abort: RemovedFields {
    static let removedFields = ["percent": "use percentage: {value: N}"]
}
