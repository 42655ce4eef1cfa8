// HTTPRewrite → Envoy's path rewrite (prefix or regex) and host rewrite on the route action.

import EnvoyAPI
import MeshAPI

/// Istio's `rewrite`. `uri` replaces the matched prefix; for an exact-path match Envoy's
/// prefix_rewrite replaces the whole path, which is what Istio means there too.
enum RewriteTranslator {
    static func apply(_ rewrite: HTTPRewrite?, to action: inout Envoy_Config_Route_V3_RouteAction) {
        guard let rewrite else { return }
        if let regex = rewrite.uriRegexRewrite, let pattern = regex.match {
            action.regexRewrite.pattern = RouteMatchTranslator.regexMatcher(pattern)
            action.regexRewrite.substitution = regex.rewrite ?? ""
        } else if let uri = rewrite.uri, !uri.isEmpty {
            action.prefixRewrite = uri
        }
        if let authority = rewrite.authority, !authority.isEmpty { action.hostRewriteLiteral = authority }
    }
}
