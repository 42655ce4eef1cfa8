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

public struct TLSRoute: Codable, Hashable, Sendable {
    public var match: [TLSMatchAttributes]?
    public var route: [RouteDestination]?
}

public struct TCPRoute: Codable, Hashable, Sendable {
    public var match: [L4MatchAttributes]?
    public var route: [RouteDestination]?
}

public struct L4MatchAttributes: Codable, Hashable, Sendable {
    public var destinationSubnets: [String]?
    public var port: UInt32?
    public var sourceSubnet: String?
    public var sourceLabels: [String: String]?
    public var gateways: [String]?
    public var sourceNamespace: String?
}

public struct TLSMatchAttributes: Codable, Hashable, Sendable {
    public var sniHosts: [String]?
    public var destinationSubnets: [String]?
    public var port: UInt32?
    public var sourceLabels: [String: String]?
    public var gateways: [String]?
    public var sourceNamespace: String?
}

public struct HTTPRedirect: Codable, Hashable, Sendable {
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

public struct HTTPDirectResponse: Codable, Hashable, Sendable {
    public var status: UInt32?
    public var body: HTTPBody?
}

/// A direct response body: `string`, or `bytes` in base64.
public struct HTTPBody: Codable, Hashable, Sendable {
    public var string: String?
    public var bytes: String?
}

public struct HTTPRewrite: Codable, Hashable, Sendable {
    public var uri: String?
    public var authority: String?
    public var uriRegexRewrite: RegexRewrite?
}

public struct RegexRewrite: Codable, Hashable, Sendable {
    public var match: String?
    public var rewrite: String?
}

public struct HTTPRetry: Codable, Hashable, Sendable {
    public var attempts: Int32?
    public var perTryTimeout: ProtoDuration?
    /// Comma-separated retry conditions.
    public var retryOn: String?
    public var retryRemoteLocalities: Bool?
    public var retryIgnorePreviousHosts: Bool?
    public var backoff: ProtoDuration?
}

public struct CorsPolicy: Codable, Hashable, Sendable {
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

public struct HTTPFaultInjection: Codable, Hashable, Sendable {
    public struct Delay: Codable, Hashable, Sendable {
        /// Deprecated in Istio (use `percentage`); accepted.
        public var percent: Int32?
        public var fixedDelay: ProtoDuration?
        public var exponentialDelay: ProtoDuration?
        public var percentage: Percent?
    }

    public struct Abort: Codable, Hashable, Sendable {
        public var httpStatus: Int32?
        public var grpcStatus: String?
        public var http2Error: String?
        public var percentage: Percent?
    }

    public var delay: Delay?
    public var abort: Abort?
}

public struct HTTPMirrorPolicy: Codable, Hashable, Sendable {
    public var destination: Destination?
    public var percentage: Percent?
}
