// HTTPMatchRequest → Envoy RouteMatch: path, headers, query parameters, method, authority, case.

import EnvoyAPI
import MeshAPI
import SwiftProtobuf

/// Translates one Istio match block into Envoy's RouteMatch, as Istio's `translateRouteMatch`.
enum RouteMatchTranslator {
    /// Whether a match block can hold for this proxy, port and gateway; Istio leaves out the
    /// ones that cannot instead of emitting routes that never match.
    static func applies(_ match: HTTPMatchRequest, in context: RouteContext) -> Bool {
        if let port = match.port, port != 0, port != context.port { return false }
        if let labels = match.sourceLabels, !labels.allSatisfy({ context.proxyLabels[$0.key] == $0.value }) { return false }
        if let namespace = match.sourceNamespace, !namespace.isEmpty, namespace != context.proxyNamespace { return false }
        if let gateways = match.gateways, !gateways.isEmpty {
            // Match-level gateways are qualified in the VirtualService's namespace by the caller.
            if !gateways.contains(context.gateway) { return false }
        }
        return true
    }

    /// The RouteMatch of a block; no block matches every path (`prefix: /`).
    static func routeMatch(_ match: HTTPMatchRequest?) -> Envoy_Config_Route_V3_RouteMatch {
        var out = Envoy_Config_Route_V3_RouteMatch()
        out.prefix = "/"
        guard let match else { return out }
        if let uri = match.uri {
            if let exact = uri.exact {
                out.path = exact
            } else if let prefix = uri.prefix {
                out.prefix = prefix
            } else if let regex = uri.regex {
                out.safeRegex = regexMatcher(regex)
            }
        }
        if match.ignoreUriCase == true { out.caseSensitive = Google_Protobuf_BoolValue(false) }
        // Pseudo-headers first, then the named headers in name order: stable output.
        if let method = match.method { out.headers.append(headerMatcher(":method", method)) }
        if let authority = match.authority { out.headers.append(headerMatcher(":authority", authority)) }
        if let scheme = match.scheme { out.headers.append(headerMatcher(":scheme", scheme)) }
        for (name, value) in (match.headers ?? [:]).sorted(by: { $0.key < $1.key }) {
            out.headers.append(headerMatcher(name, value))
        }
        for (name, value) in (match.withoutHeaders ?? [:]).sorted(by: { $0.key < $1.key }) {
            var matcher = headerMatcher(name, value)
            matcher.invertMatch = true
            out.headers.append(matcher)
        }
        for (name, value) in (match.queryParams ?? [:]).sorted(by: { $0.key < $1.key }) {
            var matcher = Envoy_Config_Route_V3_QueryParameterMatcher()
            matcher.name = name
            if let string = stringMatcher(value) { matcher.stringMatch = string } else { matcher.presentMatch = true }
            out.queryParameters.append(matcher)
        }
        return out
    }

    /// A header condition; an empty StringMatch only asks that the header be present.
    static func headerMatcher(_ name: String, _ value: StringMatch) -> Envoy_Config_Route_V3_HeaderMatcher {
        var matcher = Envoy_Config_Route_V3_HeaderMatcher()
        matcher.name = name
        if let string = stringMatcher(value) { matcher.stringMatch = string } else { matcher.presentMatch = true }
        return matcher
    }

    static func stringMatcher(_ value: StringMatch) -> Envoy_Type_Matcher_V3_StringMatcher? {
        var matcher = Envoy_Type_Matcher_V3_StringMatcher()
        if let exact = value.exact {
            matcher.exact = exact
        } else if let prefix = value.prefix {
            matcher.prefix = prefix
        } else if let regex = value.regex {
            matcher.safeRegex = regexMatcher(regex)
        } else {
            return nil
        }
        return matcher
    }

    /// RE2, Envoy's default engine, so no engine is named.
    static func regexMatcher(_ regex: String) -> Envoy_Type_Matcher_V3_RegexMatcher {
        var matcher = Envoy_Type_Matcher_V3_RegexMatcher()
        matcher.regex = regex
        return matcher
    }
}
