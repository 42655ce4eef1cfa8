// NACK reasons: a path into the resource and the field meshproxy does not honour; limits as Envoy's runtime sets them.

import EnvoyAPI
import ProxyConfig
import SwiftProtobuf
import Testing

@Suite struct ProxyConfigErrorTests {
    static func table(_ configure: (inout Envoy_Config_Route_V3_Route) -> Void) -> Envoy_Config_Route_V3_RouteConfiguration {
        var route = Envoy_Config_Route_V3_Route()
        route.match.prefix = "/"
        route.route.cluster = "outbound|9080||reviews.default.svc.cluster.local"
        configure(&route)
        var host = Envoy_Config_Route_V3_VirtualHost()
        host.name = "reviews"
        host.domains = ["reviews", "*.example.com", "api.*", "*"]
        host.routes = [route]
        var table = Envoy_Config_Route_V3_RouteConfiguration()
        table.name = "9080"
        table.virtualHosts = [host]
        return table
    }

    @Test func anUnhonouredFieldIsNamedWithItsPath() {
        let table = Self.table { $0.route.hedgePolicy.hedgeOnPerTryTimeout = true }
        #expect(throws: ProxyConfigError("route_configs[9080].virtual_hosts[0].routes[0].route", "not supported by meshproxy: hedge_policy")) {
            _ = try RouteTable(proto: table, limits: ConfigLimits())
        }
    }

    @Test func retryConditionsAreReadWithoutTheSpacesAroundThem() throws {
        let spaced = Self.table { $0.route.retryPolicy.retryOn = " 5xx,\treset ,connect-failure\n" }
        _ = try RouteTable(proto: spaced, limits: ConfigLimits())
        let unknown = Self.table { $0.route.retryPolicy.retryOn = "5xx, sometimes " }
        #expect(throws: ProxyConfigError("route_configs[9080].virtual_hosts[0].routes[0].route.retry_policy.retry_on", "unknown retry condition \"sometimes\"")) {
            _ = try RouteTable(proto: unknown, limits: ConfigLimits())
        }
        #expect(" \t x y \n".trimmingWhitespace() == "x y" && " \n".trimmingWhitespace() == "")
    }

    /// Header text from config is checked once here, because the downstream encoder no longer
    /// validates each response (a CR or LF in a value would split the response).
    @Test func headerTextThatCouldSplitAMessageIsRefusedWithItsPath() throws {
        func header(_ key: String, _ value: String) -> Envoy_Config_Core_V3_HeaderValueOption {
            var option = Envoy_Config_Core_V3_HeaderValueOption()
            option.header.key = key
            option.header.value = value
            return option
        }
        let route = "route_configs[9080].virtual_hosts[0].routes[0]"
        let refused: [(String, (inout Envoy_Config_Route_V3_Route) -> Void, ProxyConfigError)] = [
            ("CRLF in a value", { $0.responseHeadersToAdd = [header("x-team", "a\r\nset-cookie: stolen=1")] },
             ProxyConfigError(route + ".response_headers_to_add[0].header.value", "contains CR, LF or NUL, which a header value cannot hold")),
            ("a space in a name", { $0.requestHeadersToAdd = [header("x team", "fine")] },
             ProxyConfigError(route + ".request_headers_to_add[0].header.key", "\"x team\" is not a valid header name")),
            ("LF in a host rewrite", { $0.route.hostRewriteLiteral = "evil\nhost" },
             ProxyConfigError(route + ".route.host_rewrite_literal", "contains CR, LF or NUL, which a header value cannot hold")),
        ]
        for (what, configure, error) in refused {
            #expect(throws: error, "\(what)") { _ = try RouteTable(proto: Self.table(configure), limits: ConfigLimits()) }
        }
        // obs-text (bytes above 0x7f) is allowed in values.
        _ = try RouteTable(proto: Self.table { $0.responseHeadersToAdd = [header("x-team", "payments, \u{e9}quipe")] }, limits: ConfigLimits())
    }

    @Test func aRegexAboveTheProgramSizeLimitIsRefusedAsEnvoyWould() throws {
        let table = Self.table { $0.match.safeRegex.regex = "[a-z]{4,200}" }
        #expect(throws: ProxyConfigError.self) { _ = try RouteTable(proto: table, limits: ConfigLimits(maxRegexProgramSize: 100)) }
        _ = try RouteTable(proto: table, limits: ConfigLimits(maxRegexProgramSize: 32768))
    }

    /// Nested quantifiers make a backtracking engine take 2^n steps on a near-miss (about 2^40
    /// here, hours); RE2's automaton takes one pass. No clock: with backtracking the test hangs.
    @Test func aPathologicalRegexCannotStallAWorker() throws {
        let regex = try CompiledRegex("/(a+)+$", maxProgramSize: 32768, at: "test")
        let nearMiss = "/" + String(repeating: "a", count: 40) + "!"
        #expect(!regex.matches(nearMiss))
        #expect(regex.matches("/" + String(repeating: "a", count: 100_000)))
        let backreferenceLike = try CompiledRegex("(x+x+)+y", maxProgramSize: 32768, at: "test")
        #expect(!backreferenceLike.matches(String(repeating: "x", count: 5_000)))
        // Features that need backtracking are refused when the config arrives, not run.
        #expect(throws: ProxyConfigError.self) { _ = try CompiledRegex("(a)\\1", maxProgramSize: 32768, at: "test") }
        #expect(throws: ProxyConfigError.self) { _ = try CompiledRegex("a(?=b)", maxProgramSize: 32768, at: "test") }
    }

    @Test func anInvalidRegexNamesRE2sReason() {
        let table = Self.table { $0.match.safeRegex.regex = "(unclosed" }
        do {
            _ = try RouteTable(proto: table, limits: ConfigLimits())
            Issue.record("accepted an invalid regex")
        } catch let error as ProxyConfigError {
            #expect(error.path == "route_configs[9080].virtual_hosts[0].routes[0].match.safe_regex")
            #expect(error.message.contains("missing )"))
        } catch {
            Issue.record("\(error)")
        }
    }

    @Test func virtualHostsAreFoundExactThenSuffixThenPrefixThenAny() throws {
        var table = Self.table { _ in }
        var second = table.virtualHosts[0]
        second.name = "wild"
        second.domains = ["*.reviews"]
        table.virtualHosts[0].domains = ["reviews", "api.*", "*"]
        table.virtualHosts.append(second)
        let decoded = try RouteTable(proto: table, limits: ConfigLimits())
        #expect(decoded.virtualHost(for: "reviews")?.name == "reviews")
        #expect(decoded.virtualHost(for: "v1.reviews")?.name == "wild")
        #expect(decoded.virtualHost(for: "api.example.com")?.name == "reviews")
        #expect(decoded.virtualHost(for: "anything")?.name == "reviews")
    }

    @Test func routesMatchHeadersQueriesAndRegexPathsWithRE2() throws {
        let table = Self.table { route in
            route.match.safeRegex.regex = "/reviews/[0-9]+"
            var header = Envoy_Config_Route_V3_HeaderMatcher()
            header.name = "end-user"
            header.stringMatch.exact = "jason"
            route.match.headers = [header]
            var query = Envoy_Config_Route_V3_QueryParameterMatcher()
            query.name = "v"
            query.stringMatch.prefix = "2"
            route.match.queryParameters = [query]
        }
        let host = try #require(try RouteTable(proto: table, limits: ConfigLimits()).virtualHost(for: "reviews"))
        func route(_ path: Substring, _ query: Substring, _ user: String?) -> Bool {
            host.route(for: RouteMatch.Request(path: path, query: query) { $0 == "end-user" ? user : nil }) != nil
        }
        #expect(route("/reviews/12", "v=2", "jason"))
        #expect(!route("/reviews/12x", "v=2", "jason"))  // a full match, as Envoy's safe_regex
        #expect(!route("/reviews/12", "v=3", "jason"))
        #expect(!route("/reviews/12", "v=2", "mike"))
        #expect(!route("/reviews/12", "v=2", nil))
    }

    @Test func filterChainsAreChosenByPortThenServerName() throws {
        func chain(_ name: String, port: UInt32?, names: [String]) -> Envoy_Config_Listener_V3_FilterChain {
            var chain = Envoy_Config_Listener_V3_FilterChain()
            chain.name = name
            if let port { chain.filterChainMatch.destinationPort.value = port }
            chain.filterChainMatch.serverNames = names
            var filter = Envoy_Config_Listener_V3_Filter()
            filter.name = "envoy.filters.network.tcp_proxy"
            var proxy = Envoy_Extensions_Filters_Network_TcpProxy_V3_TcpProxy()
            proxy.statPrefix = name
            proxy.cluster = name
            filter.typedConfig = try! Google_Protobuf_Any(message: proxy)
            chain.filters = [filter]
            return chain
        }
        let listener = Envoy_Config_Listener_V3_Listener.test("virtual", address: "0.0.0.0", port: 15001, chains: [
            chain("any", port: nil, names: []), chain("9080", port: 9080, names: []), chain("9080-sni", port: 9080, names: ["reviews.example.com"]),
        ])
        let decoded = try ListenerConfig(proto: listener, limits: ConfigLimits())
        func pick(_ port: Int, _ name: String?) -> String? {
            decoded.filterChain(destinationPort: port, serverName: name, transportProtocol: "raw_buffer", applicationProtocols: [])?.name
        }
        #expect(pick(9080, nil) == "9080")
        #expect(pick(9080, "reviews.example.com") == "9080-sni")
        #expect(pick(8080, nil) == "any")
    }

    @Test func theBootstrapGivesNodeXDSAdminBindAndRuntimeLimits() throws {
        let json = """
            {"node": {"id": "sidecar~127.0.1.1~a.default~default.svc.cluster.local", "cluster": "a"},
             "admin": {"address": {"socket_address": {"address": "127.0.1.1", "port_value": 15000}}},
             "cluster_manager": {"upstream_bind_config": {"source_address": {"address": "127.0.1.1", "port_value": 0}}},
             "dynamic_resources": {"ads_config": {"api_type": "DELTA_GRPC", "transport_api_version": "V3",
               "grpc_services": [{"envoy_grpc": {"cluster_name": "xds-grpc"}}]}},
             "layered_runtime": {"layers": [{"name": "mesh", "static_layer": {"re2": {"max_program_size": {"error_level": 32768}}}}]},
             "static_resources": {"clusters": [{"name": "xds-grpc", "type": "STATIC", "load_assignment": {"cluster_name": "xds-grpc",
               "endpoints": [{"lb_endpoints": [{"endpoint": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": 15010}}}}]}]}}]}}
            """
        let bootstrap = try ProxyBootstrap(json: json)
        #expect(bootstrap.xdsAddress == SocketAddressConfig(host: "127.0.0.1", port: 15010))
        #expect(bootstrap.adminAddress == SocketAddressConfig(host: "127.0.1.1", port: 15000))
        #expect(bootstrap.upstreamBindAddress == "127.0.1.1")
        #expect(bootstrap.limits.maxRegexProgramSize == 32768)
        let overlay = #"{"layered_runtime": {"layers": [{"name": "scenario", "static_layer": {"re2.max_program_size.error_level": 100}}]}}"#
        #expect(try ProxyBootstrap(json: json, overlayJSON: overlay).limits.maxRegexProgramSize == 100)
    }

    /// One endpoint, `host:port`, for `cluster`.
    static func assignment(host: String, port: UInt32 = 8080, cluster: String = "reviews") -> Envoy_Config_Endpoint_V3_ClusterLoadAssignment {
        var endpoint = Envoy_Config_Endpoint_V3_LbEndpoint()
        endpoint.endpoint.address.socketAddress.address = host
        endpoint.endpoint.address.socketAddress.portValue = port
        var group = Envoy_Config_Endpoint_V3_LocalityLbEndpoints()
        group.lbEndpoints = [endpoint]
        var assignment = Envoy_Config_Endpoint_V3_ClusterLoadAssignment()
        assignment.clusterName = cluster
        assignment.endpoints = [group]
        return assignment
    }

    @Test func endpointsThatAreNotAddressesAreRefusedNotDropped() throws {
        _ = try LoadAssignment(proto: Self.assignment(host: "127.0.1.1"))
        _ = try LoadAssignment(proto: Self.assignment(host: "::1"))
        #expect(throws: ProxyConfigError("endpoints[reviews].endpoints[0].lb_endpoints[0].endpoint.address.socket_address.address",
                                         "\"reviews.example.com\" is not an IP address")) {
            _ = try LoadAssignment(proto: Self.assignment(host: "reviews.example.com"))
        }
    }

    @Test func dnsClustersKeepTheirNamesAndSettings() throws {
        var cluster = Envoy_Config_Cluster_V3_Cluster()
        cluster.name = "external"
        cluster.type = .strictDns
        cluster.loadAssignment = Self.assignment(host: "api.example.com")
        cluster.dnsLookupFamily = .v4Only
        cluster.dnsRefreshRate = .init(seconds: 2)
        cluster.respectDnsTtl = true
        guard case .dns(let assignment, let resolution) = try ClusterConfig(proto: cluster, limits: ConfigLimits()).discovery else {
            Issue.record("not a DNS cluster")
            return
        }
        #expect(assignment.localities[0].endpoints[0].address.host == "api.example.com")
        #expect(resolution == ClusterConfig.DNSResolution(family: .v4Only, refresh: .seconds(2), logical: false))
        // Envoy's own limits, with their paths.
        cluster.dnsRefreshRate = .init(seconds: 0)
        #expect(throws: ProxyConfigError("clusters[external].dns_refresh_rate", "must be at least 1ms (Envoy's rule)")) {
            _ = try ClusterConfig(proto: cluster, limits: ConfigLimits())
        }
        cluster.clearDnsRefreshRate()
        cluster.type = .logicalDns
        cluster.loadAssignment.endpoints[0].lbEndpoints.append(cluster.loadAssignment.endpoints[0].lbEndpoints[0])
        #expect(throws: ProxyConfigError("clusters[external].load_assignment", "a LOGICAL_DNS cluster has exactly one endpoint (Envoy's rule)")) {
            _ = try ClusterConfig(proto: cluster, limits: ConfigLimits())
        }
    }

    @Test func aClusterBindAddressMustBeAnAddress() throws {
        var cluster = Envoy_Config_Cluster_V3_Cluster()
        cluster.name = "InboundPassthroughCluster"
        cluster.type = .originalDst
        cluster.lbPolicy = .clusterProvided
        cluster.upstreamBindConfig.sourceAddress.address = "127.0.0.6"
        cluster.upstreamBindConfig.sourceAddress.portValue = 0
        #expect(try ClusterConfig(proto: cluster, limits: ConfigLimits()).bindAddress == "127.0.0.6")
        cluster.upstreamBindConfig.sourceAddress.address = "localhost"
        #expect(throws: ProxyConfigError("clusters[InboundPassthroughCluster].upstream_bind_config.source_address.address",
                                         "\"localhost\" is not an IP address")) {
            _ = try ClusterConfig(proto: cluster, limits: ConfigLimits())
        }
    }

    /// TLS settings meshproxy cannot honour are refused with their path, never dropped: each
    /// would change who may connect.
    @Test func tlsSettingsThatChangeWhoMayConnectAreRefusedWithTheirPath() throws {
        func cluster(_ edit: (inout Envoy_Extensions_TransportSockets_Tls_V3_UpstreamTlsContext) -> Void) throws -> Envoy_Config_Cluster_V3_Cluster {
            var context = Envoy_Extensions_TransportSockets_Tls_V3_UpstreamTlsContext()
            context.commonTlsContext.tlsCertificateSdsSecretConfigs = [.with { $0.name = "default" }]
            context.commonTlsContext.validationContextSdsSecretConfig = .with { $0.name = "ROOTCA" }
            edit(&context)
            var cluster = Envoy_Config_Cluster_V3_Cluster()
            cluster.name = "reviews"
            cluster.type = .eds
            cluster.transportSocket.name = "envoy.transport_sockets.tls"
            cluster.transportSocket.typedConfig = try Google_Protobuf_Any(message: context)
            return cluster
        }
        let accepted = try ClusterConfig(proto: try cluster { _ in }, limits: ConfigLimits())
        #expect(accepted.tls?.secretNames == ["default", "ROOTCA"])
        #expect(accepted.tls?.maximumVersion == .tls12)  // Envoy's client default
        let path = "clusters[reviews].transport_socket.typed_config.common_tls_context"
        let refused: [(String, (inout Envoy_Extensions_TransportSockets_Tls_V3_UpstreamTlsContext) -> Void, ProxyConfigError)] = [
            ("cipher suites", { $0.commonTlsContext.tlsParams.cipherSuites = ["ECDHE-RSA-AES128-GCM-SHA256"] },
             ProxyConfigError(path + ".tls_params", "not supported by meshproxy: cipher_suites")),
            ("two certificates", { $0.commonTlsContext.tlsCertificateSdsSecretConfigs.append(.with { $0.name = "other" }) },
             ProxyConfigError(path, "meshproxy presents one certificate per context (got 2)")),
            ("a key log", { $0.commonTlsContext.keyLog.path = "/tmp/keys" },
             ProxyConfigError(path, "not supported by meshproxy: key_log")),
            ("renegotiation", { $0.allowRenegotiation = true },
             ProxyConfigError("clusters[reviews].transport_socket.typed_config", "not supported by meshproxy: allow_renegotiation")),
        ]
        for (what, edit, expected) in refused {
            #expect(throws: expected, "\(what)") { _ = try ClusterConfig(proto: try cluster(edit), limits: ConfigLimits()) }
        }
        var alts = try cluster { _ in }
        alts.transportSocket.name = "envoy.transport_sockets.alts"
        #expect(throws: ProxyConfigError("clusters[reviews].transport_socket.name",
                                         "transport socket envoy.transport_sockets.alts is not supported by meshproxy (raw_buffer and tls are)")) {
            _ = try ClusterConfig(proto: alts, limits: ConfigLimits())
        }
    }
}
