// VirtualService HTTP rules → Envoy routes: one route per applicable match block, delegates inlined.

import EnvoyAPI
import MeshAPI
import SwiftProtobuf

/// Translates the `http` rules of a VirtualService for one port and gateway (Istio's
/// `BuildHTTPRoutesForVirtualService`), in rule order, since Envoy takes the first route that
/// matches.
struct HTTPRouteTranslator {
    let context: RouteContext

    /// The routes of a VirtualService; a rule that delegates is replaced by the delegate's rules,
    /// each under the parent's match.
    func routes(_ entry: VirtualServiceIndex.Entry) throws -> [Envoy_Config_Route_V3_Route] {
        var routes: [Envoy_Config_Route_V3_Route] = []
        for (index, rule) in (entry.spec.http ?? []).enumerated() {
            guard let delegate = rule.delegate else {
                routes += try translate(rule, namespace: entry.namespace, resource: entry.reference, field: "http[\(index)]")
                continue
            }
            // A delegate that does not exist routes nothing, as in Istio.
            guard let child = context.virtualServices.delegate(delegate, parentNamespace: entry.namespace) else { continue }
            for (childIndex, childRule) in (child.spec.http ?? []).enumerated() {
                guard let merged = Self.merge(parent: rule, child: childRule) else { continue }
                routes += try translate(merged, namespace: child.namespace, resource: child.reference, field: "http[\(childIndex)]")
            }
        }
        return routes
    }

    /// One rule: the same action under each match block that can hold for this proxy and port.
    func translate(_ rule: HTTPRoute, namespace: String, resource: ResourceReference, field: String) throws -> [Envoy_Config_Route_V3_Route] {
        var blocks: [HTTPMatchRequest?] = [nil]
        if let matches = rule.match, !matches.isEmpty {
            let qualified = matches.map { match -> HTTPMatchRequest in
                var match = match
                if let gateways = match.gateways, !gateways.isEmpty {
                    match.gateways = VirtualServiceIndex.qualify(gateways: gateways, namespace: namespace)
                }
                return match
            }
            blocks = qualified.filter { RouteMatchTranslator.applies($0, in: context) }
            if blocks.isEmpty { return [] }
        }
        let template = try route(rule, namespace: namespace, resource: resource, field: field)
        return blocks.map { block in
            var route = template
            route.match = RouteMatchTranslator.routeMatch(block)
            // Istio names a route `<rule>.<match>` when both have names.
            let names = [rule.name, block?.name].compactMap { $0 }.filter { !$0.isEmpty }
            route.name = names.joined(separator: ".")
            RouteDecorator.apply(to: &route, virtualService: resource.name, port: context.port)
            return route
        }
    }

    /// Everything of a route except its match and name.
    private func route(_ rule: HTTPRoute, namespace: String, resource: ResourceReference, field: String) throws -> Envoy_Config_Route_V3_Route {
        var route = Envoy_Config_Route_V3_Route()
        if let redirect = rule.redirect {
            route.redirect = try RedirectTranslator.redirect(redirect, port: context.port, field: field, resource: resource)
        } else if let response = rule.directResponse {
            route.directResponse = try DirectResponseTranslator.directResponse(response, field: field, resource: resource)
        } else {
            var action = Envoy_Config_Route_V3_RouteAction()
            RouteDestinationTranslator.apply(rule.route ?? [], namespace: namespace, context: context, to: &route, action: &action)
            RewriteTranslator.apply(rule.rewrite, to: &action)
            RetryPolicyTranslator.applyTimeout(rule.timeout, to: &action)
            if let policy = RetryPolicyTranslator.retryPolicy(rule.retries) { action.retryPolicy = policy }
            action.requestMirrorPolicies = MirrorTranslator.policies(rule, namespace: namespace, context: context)
            route.route = action
        }
        HeaderOperationsTranslator.apply(rule.headers, to: &route)
        if let fault = rule.fault {
            route.typedPerFilterConfig[HTTPFilters.faultName] = try Google_Protobuf_Any(message: try FaultTranslator.fault(fault, field: field, resource: resource))
        }
        if let cors = rule.corsPolicy {
            route.typedPerFilterConfig[HTTPFilters.corsName] = try Google_Protobuf_Any(message: CorsTranslator.corsPolicy(cors))
        }
        return route
    }

    /// The route Istio gives a service no VirtualService routes: everything to its cluster, no
    /// timeout, Istio's default retries.
    static func defaultRoute(cluster: String, hashPolicies: [String: [HashPolicyTranslator.HashPolicy]] = [:]) -> Envoy_Config_Route_V3_Route {
        var route = Envoy_Config_Route_V3_Route()
        route.name = "default"
        route.match.prefix = "/"
        var action = Envoy_Config_Route_V3_RouteAction()
        action.cluster = cluster
        action.hashPolicy = hashPolicies[cluster] ?? []
        RetryPolicyTranslator.applyTimeout(nil, to: &action)
        action.retryPolicy = RetryPolicyTranslator.defaultPolicy()
        route.route = action
        RouteDecorator.apply(to: &route, virtualService: nil, port: 0)
        return route
    }

    // MARK: Delegation

    /// A delegate's rule under its parent's: the matches intersected, and the parent's settings
    /// where the delegate has none (Istio's `mergeHTTPRoute`). Nil when no match can hold both.
    static func merge(parent: HTTPRoute, child: HTTPRoute) -> HTTPRoute? {
        var merged = child
        merged.timeout = child.timeout ?? parent.timeout
        merged.retries = child.retries ?? parent.retries
        merged.corsPolicy = child.corsPolicy ?? parent.corsPolicy
        merged.fault = child.fault ?? parent.fault
        merged.rewrite = child.rewrite ?? parent.rewrite
        merged.headers = child.headers ?? parent.headers
        if child.mirror == nil && child.mirrors == nil {
            merged.mirror = parent.mirror
            merged.mirrors = parent.mirrors
            merged.mirrorPercentage = parent.mirrorPercentage
            merged.mirrorPercent = parent.mirrorPercent
        }
        let parentMatches = parent.match ?? []
        let childMatches = child.match ?? []
        if parentMatches.isEmpty { return merged }
        if childMatches.isEmpty {
            merged.match = parentMatches
            return merged
        }
        let matches = parentMatches.flatMap { outer in childMatches.compactMap { merge(parent: outer, child: $0) } }
        if matches.isEmpty { return nil }
        merged.match = matches
        return merged
    }

    /// The intersection of two match blocks; nil when they cannot both hold.
    static func merge(parent: HTTPMatchRequest, child: HTTPMatchRequest) -> HTTPMatchRequest? {
        var merged = child
        if let outer = parent.uri {
            if let inner = child.uri {
                guard uri(inner, liesWithin: outer) else { return nil }
            } else {
                merged.uri = outer
            }
        }
        for keyPath in [\HTTPMatchRequest.scheme, \.method, \.authority] {
            if let outer = parent[keyPath: keyPath] {
                if let inner = child[keyPath: keyPath], inner != outer { return nil }
                merged[keyPath: keyPath] = outer
            }
        }
        merged.headers = union(parent.headers, child.headers)
        merged.withoutHeaders = union(parent.withoutHeaders, child.withoutHeaders)
        merged.queryParams = union(parent.queryParams, child.queryParams)
        merged.sourceLabels = union(parent.sourceLabels, child.sourceLabels)
        if let outer = parent.port, let inner = child.port, outer != inner { return nil }
        merged.port = child.port ?? parent.port
        merged.gateways = child.gateways ?? parent.gateways
        merged.ignoreUriCase = child.ignoreUriCase ?? parent.ignoreUriCase
        merged.sourceNamespace = child.sourceNamespace ?? parent.sourceNamespace
        if let outer = parent.name, let inner = child.name { merged.name = "\(outer).\(inner)" } else { merged.name = child.name ?? parent.name }
        return merged
    }

    private static func uri(_ inner: StringMatch, liesWithin outer: StringMatch) -> Bool {
        if let prefix = outer.prefix {
            if let exact = inner.exact { return exact.hasPrefix(prefix) }
            if let innerPrefix = inner.prefix { return innerPrefix.hasPrefix(prefix) }
            return false
        }
        return inner == outer
    }

    private static func union<Value>(_ parent: [String: Value]?, _ child: [String: Value]?) -> [String: Value]? {
        guard let parent else { return child }
        return parent.merging(child ?? [:]) { _, inner in inner }
    }
}
