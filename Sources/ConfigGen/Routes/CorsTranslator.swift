// CorsPolicy → the envoy.filters.http.cors filter's per-route CorsPolicy.

import EnvoyAPI
import MeshAPI
import SwiftProtobuf

/// Istio's `corsPolicy`, answered by the CORS filter that every HTTP connection manager holds.
enum CorsTranslator {
    static func corsPolicy(_ cors: CorsPolicy) -> Envoy_Extensions_Filters_Http_Cors_V3_CorsPolicy {
        var out = Envoy_Extensions_Filters_Http_Cors_V3_CorsPolicy()
        for origin in cors.allowOrigins ?? [] {
            if let matcher = RouteMatchTranslator.stringMatcher(origin) { out.allowOriginStringMatch.append(matcher) }
        }
        for origin in cors.allowOrigin ?? [] {
            var matcher = Envoy_Type_Matcher_V3_StringMatcher()
            matcher.exact = origin
            out.allowOriginStringMatch.append(matcher)
        }
        out.allowMethods = (cors.allowMethods ?? []).joined(separator: ",")
        out.allowHeaders = (cors.allowHeaders ?? []).joined(separator: ",")
        out.exposeHeaders = (cors.exposeHeaders ?? []).joined(separator: ",")
        if let maxAge = cors.maxAge { out.maxAge = String(maxAge.nanoseconds / 1_000_000_000) }
        if let credentials = cors.allowCredentials { out.allowCredentials = Google_Protobuf_BoolValue(credentials) }
        // Istio's default for preflights from origins that do not match is to forward them.
        out.forwardNotMatchingPreflights = Google_Protobuf_BoolValue(cors.unmatchedPreflights != .IGNORE)
        out.filterEnabled.defaultValue = Envoy_Type_V3_FractionalPercent(integerPercent: 100)
        return out
    }
}
