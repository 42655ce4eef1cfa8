// Per-route settings of the HTTP filters meshproxy runs: fault injection and CORS.

import EnvoyAPI

/// Envoy's fault filter as ConfigGen emits it from a VirtualService's `fault`.
public struct FaultPolicy: Sendable {
    public var delay: (duration: Duration, perMillion: Int)?
    public enum Abort: Sendable { case http(Int), grpc(Int) }
    public var abort: (kind: Abort, perMillion: Int)?

    init(proto: Envoy_Extensions_Filters_Http_Fault_V3_HTTPFault, at path: String) throws {
        var rest = proto
        if proto.hasDelay {
            guard case .fixedDelay(let fixed)? = proto.delay.faultDelaySecifier else {
                throw ProxyConfigError(path + ".delay", "only fixed_delay is supported")
            }
            delay = (fixed.swiftDuration, proto.delay.hasPercentage ? FractionalPercent.perMillion(proto.delay.percentage) : 1_000_000)
        } else {
            delay = nil
        }
        rest.clearDelay()
        if proto.hasAbort {
            let kind: Abort
            switch proto.abort.errorType {
            case .httpStatus(let status)? where (200..<600).contains(status): kind = .http(Int(status))
            case .grpcStatus(let status)?: kind = .grpc(Int(status))
            default: throw ProxyConfigError(path + ".abort", "needs http_status (200-599) or grpc_status")
            }
            abort = (kind, proto.abort.hasPercentage ? FractionalPercent.perMillion(proto.abort.percentage) : 1_000_000)
        } else {
            abort = nil
        }
        rest.clearAbort()
        try requireNothingElse(rest, at: path)
    }
}

public struct CorsPolicy: Sendable {
    public var allowOrigins: [StringMatcher]
    public var allowMethods: String
    public var allowHeaders: String
    public var exposeHeaders: String
    public var maxAge: String
    public var allowCredentials: Bool
    public var enabled: Bool
    /// Preflights from origins that do not match go on to the upstream (Envoy's default: true).
    public var forwardNotMatchingPreflights: Bool

    init(proto: Envoy_Extensions_Filters_Http_Cors_V3_CorsPolicy, limits: ConfigLimits, at path: String) throws {
        var rest = proto
        allowOrigins = try proto.allowOriginStringMatch.enumerated().map { index, matcher in
            try StringMatcher(proto: matcher, limits: limits, at: "\(path).allow_origin_string_match[\(index)]")
        }
        rest.allowOriginStringMatch = []
        allowMethods = proto.allowMethods
        allowHeaders = proto.allowHeaders
        exposeHeaders = proto.exposeHeaders
        maxAge = proto.maxAge
        for (field, value) in [("allow_methods", allowMethods), ("allow_headers", allowHeaders),
                               ("expose_headers", exposeHeaders), ("max_age", maxAge)] {
            try HeaderText.requireValue(value, at: "\(path).\(field)")
        }
        rest.allowMethods = ""
        rest.allowHeaders = ""
        rest.exposeHeaders = ""
        rest.maxAge = ""
        allowCredentials = proto.hasAllowCredentials && proto.allowCredentials.value
        rest.clearAllowCredentials()
        enabled = proto.hasFilterEnabled ? FractionalPercent.perMillion(proto.filterEnabled.defaultValue) >= 1_000_000 : true
        rest.clearFilterEnabled()
        forwardNotMatchingPreflights = proto.hasForwardNotMatchingPreflights ? proto.forwardNotMatchingPreflights.value : true
        rest.clearForwardNotMatchingPreflights()
        try requireNothingElse(rest, at: path)
    }

    public func allows(origin: String) -> Bool {
        allowOrigins.contains { $0.matches(origin) }
    }
}
