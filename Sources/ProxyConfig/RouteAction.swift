// What a matched route does: forward to clusters (with retries, timeouts, rewrites, mirrors), redirect, or answer directly.

import EnvoyAPI
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

public enum RouteAction: Sendable {
    case forward(ForwardAction)
    case redirect(RedirectAction)
    case direct(DirectResponse)
}

public final class ForwardAction: Sendable {
    public let clusters: WeightedChoice
    /// The whole request's deadline; nil when disabled (`0s`). Envoy's default is 15 s.
    public let timeout: Duration?
    public let retry: RetryPolicy?
    public let prefixRewrite: String?
    public let regexRewrite: (pattern: CompiledRegex, substitution: String)?
    public let hostRewrite: String?
    public let hashPolicies: [HashPolicy]
    public let mirrors: [MirrorPolicy]
    /// Caps a gRPC client's `grpc-timeout`; nil: the header is not used.
    public let maxGRPCTimeout: Duration?

    init(proto: Envoy_Config_Route_V3_RouteAction, limits: ConfigLimits, at path: String) throws {
        var rest = proto
        switch proto.clusterSpecifier {
        case .cluster(let name)?:
            clusters = WeightedChoice(single: name)
        case .weightedClusters(let weighted)?:
            var weightedRest = weighted
            weightedRest.clusters = []
            try requireNothingElse(weightedRest, at: path + ".weighted_clusters")
            clusters = try WeightedChoice(weighted.clusters.enumerated().map { index, cluster in
                let clusterPath = "\(path).weighted_clusters.clusters[\(index)]"
                var clusterRest = cluster
                clusterRest.name = ""
                clusterRest.clearWeight()
                clusterRest.requestHeadersToAdd = []
                clusterRest.requestHeadersToRemove = []
                try requireNothingElse(clusterRest, at: clusterPath)
                return WeightedChoice.Entry(
                    cluster: cluster.name, weight: Int(cluster.weight.value),
                    requestHeadersToAdd: try HeaderToAdd.list(cluster.requestHeadersToAdd, at: clusterPath + ".request_headers_to_add"),
                    requestHeadersToRemove: cluster.requestHeadersToRemove.map { $0.lowercased() })
            }, at: path + ".weighted_clusters")
        default:
            throw ProxyConfigError(path, "needs cluster or weighted_clusters")
        }
        rest.clusterSpecifier = nil
        if proto.hasTimeout {
            timeout = proto.timeout.swiftDuration == .zero ? nil : proto.timeout.swiftDuration
        } else {
            timeout = .seconds(15)
        }
        rest.clearTimeout()
        retry = proto.hasRetryPolicy ? try RetryPolicy(proto: proto.retryPolicy, at: path + ".retry_policy") : nil
        rest.clearRetryPolicy()
        try HeaderText.requireValue(proto.prefixRewrite, at: path + ".prefix_rewrite")
        prefixRewrite = proto.prefixRewrite.isEmpty ? nil : proto.prefixRewrite
        rest.prefixRewrite = ""
        if proto.hasRegexRewrite {
            try HeaderText.requireValue(proto.regexRewrite.substitution, at: path + ".regex_rewrite.substitution")
            regexRewrite = (try CompiledRegex(proto.regexRewrite.pattern.regex, maxProgramSize: limits.maxRegexProgramSize,
                                              at: path + ".regex_rewrite.pattern"), proto.regexRewrite.substitution)
        } else {
            regexRewrite = nil
        }
        rest.clearRegexRewrite()
        switch proto.hostRewriteSpecifier {
        case .hostRewriteLiteral(let host)?:
            try HeaderText.requireValue(host, at: path + ".host_rewrite_literal")
            hostRewrite = host
        case nil: hostRewrite = nil
        default: throw ProxyConfigError(path, "only host_rewrite_literal is supported for host rewriting")
        }
        rest.hostRewriteSpecifier = nil
        hashPolicies = try proto.hashPolicy.enumerated().map { index, policy in
            try HashPolicy(proto: policy, at: "\(path).hash_policy[\(index)]")
        }
        rest.hashPolicy = []
        mirrors = try proto.requestMirrorPolicies.enumerated().map { index, mirror in
            try MirrorPolicy(proto: mirror, at: "\(path).request_mirror_policies[\(index)]")
        }
        rest.requestMirrorPolicies = []
        maxGRPCTimeout = proto.hasMaxGrpcTimeout ? proto.maxGrpcTimeout.swiftDuration : nil
        rest.clearMaxGrpcTimeout()
        try requireNothingElse(rest, at: path)
    }
}

public struct RetryPolicy: Sendable {
    /// The conditions of Envoy's `retry_on`.
    public struct Conditions: OptionSet, Sendable {
        public let rawValue: Int
        public init(rawValue: Int) { self.rawValue = rawValue }
        public static let serverError = Conditions(rawValue: 1 << 0)          // 5xx
        public static let gatewayError = Conditions(rawValue: 1 << 1)         // 502, 503, 504
        public static let reset = Conditions(rawValue: 1 << 2)
        public static let connectFailure = Conditions(rawValue: 1 << 3)
        public static let retriable4xx = Conditions(rawValue: 1 << 4)         // 409
        public static let refusedStream = Conditions(rawValue: 1 << 5)
        public static let retriableStatusCodes = Conditions(rawValue: 1 << 6)
        public static let grpcCancelled = Conditions(rawValue: 1 << 7)
        public static let grpcDeadlineExceeded = Conditions(rawValue: 1 << 8)
        public static let grpcInternal = Conditions(rawValue: 1 << 9)
        public static let grpcResourceExhausted = Conditions(rawValue: 1 << 10)
        public static let grpcUnavailable = Conditions(rawValue: 1 << 11)
        public static let http3PostConnectFailure = Conditions(rawValue: 1 << 12)
        public static let resetBeforeRequest = Conditions(rawValue: 1 << 13)

        static let byName: [String: Conditions] = [
            "5xx": .serverError, "gateway-error": .gatewayError, "reset": .reset, "connect-failure": .connectFailure,
            "retriable-4xx": .retriable4xx, "refused-stream": .refusedStream, "retriable-status-codes": .retriableStatusCodes,
            "cancelled": .grpcCancelled, "deadline-exceeded": .grpcDeadlineExceeded, "internal": .grpcInternal,
            "resource-exhausted": .grpcResourceExhausted, "unavailable": .grpcUnavailable,
            "http3-post-connect-failure": .http3PostConnectFailure, "reset-before-request": .resetBeforeRequest,
        ]
    }

    public var conditions: Conditions
    public var numRetries: Int
    public var perTryTimeout: Duration?
    public var retriableStatusCodes: Set<Int>
    /// Avoid hosts already tried (`envoy.retry_host_predicates.previous_hosts`).
    public var avoidPreviousHosts: Bool
    public var hostSelectionMaxAttempts: Int
    /// Avoid priorities already tried (`envoy.retry_priorities.previous_priorities`).
    public var avoidPreviousPriorities: Bool
    public var backOffBase: Duration
    public var backOffMax: Duration

    init(proto: Envoy_Config_Route_V3_RetryPolicy, at path: String) throws {
        var rest = proto
        var conditions: Conditions = []
        for name in proto.retryOn.split(separator: ",") {
            let name = name.trimmingWhitespace()
            guard let condition = Conditions.byName[name] else {
                throw ProxyConfigError(path + ".retry_on", "unknown retry condition \"\(name)\"")
            }
            conditions.insert(condition)
        }
        self.conditions = conditions
        rest.retryOn = ""
        numRetries = proto.hasNumRetries ? Int(proto.numRetries.value) : 1
        rest.clearNumRetries()
        perTryTimeout = proto.hasPerTryTimeout && proto.perTryTimeout.swiftDuration > .zero ? proto.perTryTimeout.swiftDuration : nil
        rest.clearPerTryTimeout()
        retriableStatusCodes = Set(proto.retriableStatusCodes.map(Int.init))
        rest.retriableStatusCodes = []
        avoidPreviousHosts = false
        for (index, predicate) in proto.retryHostPredicate.enumerated() {
            guard predicate.name == "envoy.retry_host_predicates.previous_hosts" else {
                throw ProxyConfigError("\(path).retry_host_predicate[\(index)]", "\(predicate.name) is not supported by meshproxy")
            }
            avoidPreviousHosts = true
        }
        rest.retryHostPredicate = []
        hostSelectionMaxAttempts = max(1, Int(proto.hostSelectionRetryMaxAttempts))
        rest.hostSelectionRetryMaxAttempts = 0
        if proto.hasRetryPriority {
            guard proto.retryPriority.name == "envoy.retry_priorities.previous_priorities" else {
                throw ProxyConfigError(path + ".retry_priority", "\(proto.retryPriority.name) is not supported by meshproxy")
            }
            avoidPreviousPriorities = true
        } else {
            avoidPreviousPriorities = false
        }
        rest.clearRetryPriority()
        // Envoy's defaults: 25 ms base, ten times that at most, with full jitter.
        backOffBase = proto.hasRetryBackOff && proto.retryBackOff.hasBaseInterval ? proto.retryBackOff.baseInterval.swiftDuration : .milliseconds(25)
        backOffMax = proto.hasRetryBackOff && proto.retryBackOff.hasMaxInterval ? proto.retryBackOff.maxInterval.swiftDuration : backOffBase * 10
        rest.clearRetryBackOff()
        try requireNothingElse(rest, at: path)
    }

    /// Whether an upstream answer with `status` may be retried under this policy.
    public func retries(status: Int) -> Bool {
        if conditions.contains(.serverError), status >= 500 { return true }
        if conditions.contains(.gatewayError), status == 502 || status == 503 || status == 504 { return true }
        if conditions.contains(.retriable4xx), status == 409 { return true }
        if conditions.contains(.retriableStatusCodes), retriableStatusCodes.contains(status) { return true }
        return false
    }

    /// Whether a failure to connect may be retried.
    public var retriesConnectFailure: Bool {
        !conditions.isDisjoint(with: [.connectFailure, .serverError, .gatewayError, .reset, .resetBeforeRequest])
    }

    /// Whether a reset after the request was sent may be retried.
    public var retriesReset: Bool { !conditions.isDisjoint(with: [.reset, .serverError, .gatewayError]) }
}

/// How a consistent-hash load balancer keys a request.
public struct HashPolicy: Sendable {
    public enum Source: Sendable {
        case header(String)
        /// A cookie; with a TTL the proxy sets it when the request has none.
        case cookie(name: String, ttl: Duration?, path: String)
        case sourceIP
        case queryParameter(String)
    }

    public var source: Source
    public var terminal: Bool

    init(proto: Envoy_Config_Route_V3_RouteAction.HashPolicy, at path: String) throws {
        terminal = proto.terminal
        switch proto.policySpecifier {
        case .header(let header)?:
            guard !header.hasRegexRewrite else { throw ProxyConfigError(path + ".header.regex_rewrite", "is not supported by meshproxy") }
            source = .header(header.headerName.lowercased())
        case .cookie(let cookie)?:
            guard cookie.attributes.isEmpty else { throw ProxyConfigError(path + ".cookie.attributes", "is not supported by meshproxy") }
            source = .cookie(name: cookie.name, ttl: cookie.hasTtl ? cookie.ttl.swiftDuration : nil, path: cookie.path)
        case .connectionProperties(let properties)? where properties.sourceIp:
            source = .sourceIP
        case .queryParameter(let query)?:
            source = .queryParameter(query.name)
        default:
            throw ProxyConfigError(path, "needs header, cookie, connection_properties.source_ip or query_parameter")
        }
    }
}

public struct MirrorPolicy: Sendable {
    public var cluster: String
    /// The share of requests mirrored, in millionths.
    public var perMillion: Int
    /// false: the shadow request's trace context says not sampled, so it makes no spans.
    public var traceSampled: Bool

    init(proto: Envoy_Config_Route_V3_RouteAction.RequestMirrorPolicy, at path: String) throws {
        var rest = proto
        guard !proto.cluster.isEmpty else { throw ProxyConfigError(path + ".cluster", "is empty") }
        cluster = proto.cluster
        rest.cluster = ""
        perMillion = proto.hasRuntimeFraction ? FractionalPercent.perMillion(proto.runtimeFraction.defaultValue) : 1_000_000
        rest.clearRuntimeFraction()
        // Whether the shadow's trace context says sampled (Envoy's default: as the request's).
        traceSampled = !proto.hasTraceSampled || proto.traceSampled.value
        rest.clearTraceSampled()
        try requireNothingElse(rest, at: path)
    }
}

public struct RedirectAction: Sendable {
    public var scheme: String?
    public var host: String?
    public var port: Int?
    public enum PathRewrite: Sendable { case none, path(String), prefix(String) }
    public var path: PathRewrite
    public var status: Int
    public var stripQuery: Bool

    init(proto: Envoy_Config_Route_V3_RedirectAction, at path: String) throws {
        switch proto.schemeRewriteSpecifier {
        case .httpsRedirect(true)?: scheme = "https"
        case .schemeRedirect(let value)?: scheme = value
        default: scheme = nil
        }
        host = proto.hostRedirect.isEmpty ? nil : proto.hostRedirect
        port = proto.portRedirect == 0 ? nil : Int(proto.portRedirect)
        switch proto.pathRewriteSpecifier {
        case .pathRedirect(let value)?: self.path = .path(value)
        case .prefixRewrite(let value)?: self.path = .prefix(value)
        case .regexRewrite?: throw ProxyConfigError(path + ".regex_rewrite", "is not supported by meshproxy")
        case nil: self.path = .none
        }
        switch proto.responseCode {
        case .movedPermanently: status = 301
        case .found: status = 302
        case .seeOther: status = 303
        case .temporaryRedirect: status = 307
        case .permanentRedirect: status = 308
        case .UNRECOGNIZED(let value): throw ProxyConfigError(path + ".response_code", "unknown value \(value)")
        }
        stripQuery = proto.stripQuery
        // The redirect's parts are written into the Location header.
        for (field, value) in [("scheme_redirect", scheme ?? ""), ("host_redirect", host ?? ""),
                               ("path_redirect", proto.pathRedirect), ("prefix_rewrite", proto.prefixRewrite)] {
            try HeaderText.requireValue(value, at: "\(path).\(field)")
        }
    }
}

public struct DirectResponse: Sendable {
    public var status: Int
    public var body: [UInt8]?

    init(proto: Envoy_Config_Route_V3_DirectResponseAction, at path: String) throws {
        guard (200...599).contains(proto.status) else { throw ProxyConfigError(path + ".status", "\(proto.status) is not an HTTP status") }
        status = Int(proto.status)
        if proto.hasBody {
            switch proto.body.specifier {
            case .inlineString(let text)?: body = Array(text.utf8)
            case .inlineBytes(let bytes)?: body = Array(bytes)
            default: throw ProxyConfigError(path + ".body", "only inline_string and inline_bytes are supported")
            }
        } else {
            body = nil
        }
        guard !proto.hasBodyFormat else { throw ProxyConfigError(path + ".body_format", "is not supported by meshproxy") }
    }
}

enum FractionalPercent {
    static func perMillion(_ value: Envoy_Type_V3_FractionalPercent) -> Int {
        switch value.denominator {
        case .hundred: return Int(value.numerator) * 10_000
        case .tenThousand: return Int(value.numerator) * 100
        case .million, .UNRECOGNIZED: return Int(value.numerator)
        }
    }
}
