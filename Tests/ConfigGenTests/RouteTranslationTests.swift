// Focused checks of the translations the golden files cover only by example: virtual host
// domains, destination weights and ports, match blocks, retries, redirects, delegation.

@testable import ConfigGen
import EnvoyAPI
import Foundation
import MeshAPI
@testable import MeshModel
import Testing

@Suite struct RouteTranslationTests {
    static func context(port: UInt32 = 9080, labels: [String: String] = ["app": "productpage"], services: [MeshService] = [],
                        gateway: String = "mesh") -> RouteContext {
        RouteContext(proxyLabels: labels, proxyNamespace: "default", port: port, gateway: gateway,
                     services: Dictionary(uniqueKeysWithValues: services.map { ($0.hostname, $0) }),
                     virtualServices: VirtualServiceIndex(snapshot: .empty(), proxyNamespace: "default"))
    }

    static func service(_ hostname: String, namespace: String = "default", ports: [UInt32]) -> MeshService {
        MeshService(hostname: hostname, namespace: namespace,
                    ports: ports.map { MeshService.Port(name: "p\($0)", number: $0, protocolName: "HTTP", targetPort: $0) },
                    location: .MESH_INTERNAL, resolution: .STATIC, addresses: [], exportTo: ["*"], subjectAltNames: [],
                    source: ResourceReference(kind: "ServiceEntry", namespace: namespace, name: hostname))
    }

    @Test func domainsFollowTheCallersNamespace() {
        #expect(VirtualHostDomains.domains(hostname: "reviews.default.svc.cluster.local", port: 9080, proxyNamespace: "default") == [
            "reviews.default.svc.cluster.local", "reviews.default.svc.cluster.local:9080", "reviews", "reviews:9080",
            "reviews.default.svc", "reviews.default.svc:9080", "reviews.default", "reviews.default:9080",
        ])
        let fromElsewhere = VirtualHostDomains.domains(hostname: "reviews.default.svc.cluster.local", port: 9080, proxyNamespace: "other")
        #expect(!fromElsewhere.contains("reviews") && fromElsewhere.contains("reviews.default"), "the bare name resolves only in the same namespace")
        #expect(VirtualHostDomains.domains(hostname: "api.example.com", port: 443, addresses: ["240.0.0.1", "10.0.0.0/24"], proxyNamespace: "default") == [
            "api.example.com", "api.example.com:443", "240.0.0.1", "240.0.0.1:443",
        ], "external names have no short forms; CIDR addresses are not domains")
    }

    @Test func weightsSplitAndZeroWeightsDrop() throws {
        var route = Envoy_Config_Route_V3_Route()
        var action = Envoy_Config_Route_V3_RouteAction()
        RouteDestinationTranslator.apply([
            HTTPRouteDestination(destination: Destination(host: "reviews", subset: "v1"), weight: 70),
            HTTPRouteDestination(destination: Destination(host: "reviews", subset: "v2"), weight: 30),
            HTTPRouteDestination(destination: Destination(host: "reviews", subset: "v3"), weight: 0),
        ], namespace: "default", context: Self.context(), to: &route, action: &action)
        #expect(action.weightedClusters.clusters.map(\.name) == [
            "outbound|9080|v1|reviews.default.svc.cluster.local", "outbound|9080|v2|reviews.default.svc.cluster.local",
        ])
        #expect(action.weightedClusters.clusters.map(\.weight.value) == [70, 30])

        var single = Envoy_Config_Route_V3_Route()
        var singleAction = Envoy_Config_Route_V3_RouteAction()
        var destination = HTTPRouteDestination(destination: Destination(host: "reviews"), weight: 100)
        destination.headers = try JSONDecoder().decode(Headers.self, from: Data(#"{"request": {"set": {"x-a": "1"}}}"#.utf8))
        RouteDestinationTranslator.apply([destination], namespace: "default", context: Self.context(), to: &single, action: &singleAction)
        #expect(singleAction.cluster == "outbound|9080||reviews.default.svc.cluster.local")
        #expect(single.requestHeadersToAdd.map(\.header.key) == ["x-a"], "a lone destination's headers move onto the route")
    }

    @Test func destinationPortsDefaultAsIstioDoes() {
        let context = Self.context(port: 8080, services: [
            Self.service("one.default.svc.cluster.local", ports: [7000]),
            Self.service("two.default.svc.cluster.local", ports: [7000, 7001]),
        ])
        #expect(context.clusterName(Destination(host: "one"), namespace: "default") == "outbound|7000||one.default.svc.cluster.local",
                "a service's only port")
        #expect(context.clusterName(Destination(host: "two"), namespace: "default") == "outbound|8080||two.default.svc.cluster.local",
                "else the listener's port")
        #expect(context.clusterName(Destination(host: "two", port: PortSelector(number: 7001)), namespace: "default")
                == "outbound|7001||two.default.svc.cluster.local")
        #expect(context.clusterName(Destination(host: "db.example.com", subset: "a"), namespace: "other") == "outbound|8080|a|db.example.com")
    }

    @Test func matchBlocksTranslate() {
        var block = HTTPMatchRequest(uri: StringMatch(regex: "^/a/[0-9]+$"), headers: ["x-b": StringMatch(prefix: "v"), "x-a": StringMatch()])
        block.ignoreUriCase = true
        block.method = StringMatch(exact: "POST")
        block.withoutHeaders = ["x-skip": StringMatch(exact: "1")]
        block.queryParams = ["q": StringMatch(), "r": StringMatch(regex: "[a-z]+")]
        let match = RouteMatchTranslator.routeMatch(block)
        #expect(match.safeRegex.regex == "^/a/[0-9]+$")
        #expect(match.caseSensitive.value == false)
        #expect(match.headers.map(\.name) == [":method", "x-a", "x-b", "x-skip"])
        #expect(match.headers[1].presentMatch, "an empty StringMatch asks for presence")
        #expect(match.headers[3].invertMatch && match.headers[3].stringMatch.exact == "1")
        #expect(match.queryParameters.map(\.name) == ["q", "r"])
        #expect(match.queryParameters[0].presentMatch && match.queryParameters[1].stringMatch.safeRegex.regex == "[a-z]+")
        #expect(RouteMatchTranslator.routeMatch(nil).prefix == "/")
        #expect(RouteMatchTranslator.routeMatch(HTTPMatchRequest(uri: StringMatch(exact: "/x"))).path == "/x")
    }

    @Test func matchBlocksThatCannotHoldAreDropped() throws {
        var otherPort = HTTPMatchRequest(uri: StringMatch(prefix: "/p"))
        otherPort.port = 9999
        var otherCaller = HTTPMatchRequest(uri: StringMatch(prefix: "/s"))
        otherCaller.sourceLabels = ["app": "other"]
        var thisCaller = HTTPMatchRequest(uri: StringMatch(prefix: "/t"))
        thisCaller.sourceLabels = ["app": "productpage"]
        var gatewayOnly = HTTPMatchRequest(uri: StringMatch(prefix: "/g"))
        gatewayOnly.gateways = ["ingress"]
        let rule = HTTPRoute(name: "r", match: [otherPort, otherCaller, thisCaller, gatewayOnly],
                             route: [HTTPRouteDestination(destination: Destination(host: "reviews"))])
        let reference = ResourceReference(kind: "VirtualService", namespace: "default", name: "reviews")
        let routes = try HTTPRouteTranslator(context: Self.context()).translate(rule, namespace: "default", resource: reference, field: "http[0]")
        #expect(routes.map(\.match.prefix) == ["/t"])
        let onGateway = try HTTPRouteTranslator(context: Self.context(gateway: "default/ingress"))
            .translate(rule, namespace: "default", resource: reference, field: "http[0]")
        #expect(onGateway.map(\.match.prefix) == ["/t", "/g"], "match gateways are qualified in the VirtualService's namespace")
        let none = HTTPRoute(name: "n", match: [otherPort], route: rule.route)
        #expect(try HTTPRouteTranslator(context: Self.context()).translate(none, namespace: "default", resource: reference, field: "http[1]").isEmpty)
    }

    @Test func retriesSplitStatusCodesAndCanBeOff() throws {
        var retries = try #require(try JSONDecoder().decode(HTTPRetry.self, from: Data(#"{"attempts": 4, "retryOn": "5xx,503, 429,reset", "perTryTimeout": "1.5s"}"#.utf8)))
        let policy = try #require(RetryPolicyTranslator.retryPolicy(retries))
        #expect(policy.retryOn == "5xx,reset,retriable-status-codes")
        #expect(policy.retriableStatusCodes == [503, 429])
        #expect(policy.numRetries.value == 4)
        #expect(policy.perTryTimeout.seconds == 1 && policy.perTryTimeout.nanos == 500_000_000)
        retries.attempts = 0
        #expect(RetryPolicyTranslator.retryPolicy(retries) == nil)
        let defaults = try #require(RetryPolicyTranslator.retryPolicy(nil))
        #expect(defaults.retryOn == RetryPolicyTranslator.defaultRetryOn && defaults.numRetries.value == 2 && defaults.hostSelectionRetryMaxAttempts == 5)
    }

    @Test func unsupportedRedirectCodeNamesTheField() throws {
        let redirect = try JSONDecoder().decode(HTTPRedirect.self, from: Data(#"{"uri": "/x", "redirectCode": 305}"#.utf8))
        let reference = ResourceReference(kind: "VirtualService", namespace: "default", name: "reviews")
        #expect(throws: TranslationError(reference, field: "http[2].redirect.redirectCode", reason: "Envoy redirects only with 301, 302, 303, 307 or 308, not 305")) {
            try RedirectTranslator.redirect(redirect, port: 80, field: "http[2]", resource: reference)
        }
    }

    @Test func delegatesIntersectTheParentsMatch() {
        let parent = HTTPRoute(name: "p", match: [HTTPMatchRequest(uri: StringMatch(prefix: "/details"), headers: ["x-a": StringMatch(exact: "1")])])
        let inside = HTTPRoute(name: "c", match: [HTTPMatchRequest(uri: StringMatch(prefix: "/details/v2"))])
        let merged = HTTPRouteTranslator.merge(parent: parent, child: inside)
        #expect(merged?.match?.first?.uri?.prefix == "/details/v2")
        #expect(merged?.match?.first?.headers?["x-a"]?.exact == "1", "the parent's conditions still hold")
        let outside = HTTPRoute(name: "c", match: [HTTPMatchRequest(uri: StringMatch(prefix: "/ratings"))])
        #expect(HTTPRouteTranslator.merge(parent: parent, child: outside) == nil, "a delegate cannot route outside its parent's match")
    }
}
