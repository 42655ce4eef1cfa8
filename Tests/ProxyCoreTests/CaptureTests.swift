// iptables capture: the rules meshproxy installs, where a redirected connection is handed, and ORIGINAL_DST hosts.

import EnvoyAPI
import NIOCore
import ProxyConfig
@testable import ProxyCore
@testable import ProxyUpstream
import SwiftProtobuf
import Testing

@Suite struct CaptureTests {
    @Test func defaultRulesAreIstiosRedirectMode() {
        // istio-iptables' nat table for a pod with the default options (REDIRECT, proxy 1337,
        // every inbound port but the proxy's own), in its order.
        let expected = """
            *nat
            :ISTIO_INBOUND - [0:0]
            :ISTIO_IN_REDIRECT - [0:0]
            :ISTIO_OUTPUT - [0:0]
            :ISTIO_REDIRECT - [0:0]
            -A PREROUTING -p tcp -j ISTIO_INBOUND
            -A OUTPUT -p tcp -j ISTIO_OUTPUT
            -A ISTIO_INBOUND -p tcp -m tcp --dport 15000 -j RETURN
            -A ISTIO_INBOUND -p tcp -m tcp --dport 15020 -j RETURN
            -A ISTIO_INBOUND -p tcp -m tcp --dport 15021 -j RETURN
            -A ISTIO_INBOUND -p tcp -m tcp --dport 15090 -j RETURN
            -A ISTIO_INBOUND -p tcp -j ISTIO_IN_REDIRECT
            -A ISTIO_IN_REDIRECT -p tcp -j REDIRECT --to-ports 15006
            -A ISTIO_OUTPUT -s 127.0.0.6/32 -o lo -j RETURN
            -A ISTIO_OUTPUT ! -d 127.0.0.1/32 -o lo -m owner --uid-owner 1337 -j ISTIO_IN_REDIRECT
            -A ISTIO_OUTPUT -o lo -m owner ! --uid-owner 1337 -j RETURN
            -A ISTIO_OUTPUT -m owner --uid-owner 1337 -j RETURN
            -A ISTIO_OUTPUT ! -d 127.0.0.1/32 -o lo -m owner --gid-owner 1337 -j ISTIO_IN_REDIRECT
            -A ISTIO_OUTPUT -o lo -m owner ! --gid-owner 1337 -j RETURN
            -A ISTIO_OUTPUT -m owner --gid-owner 1337 -j RETURN
            -A ISTIO_OUTPUT -d 127.0.0.1/32 -j RETURN
            -A ISTIO_OUTPUT -j ISTIO_REDIRECT
            -A ISTIO_REDIRECT -p tcp -j REDIRECT --to-ports 15001
            COMMIT

            """
        #expect(CaptureRules().installScript == expected)
    }

    @Test func listedPortsAndExclusions() throws {
        var rules = CaptureRules()
        rules.proxyUID = nil
        rules.inboundPorts = [9080, 3306]
        rules.excludedOutboundPorts = [5432]
        rules.excludedOutboundRanges = ["10.0.0.0/8"]
        try rules.validate()
        let lines = rules.installScript.split(separator: "\n").map(String.init)
        #expect(lines.contains("-A ISTIO_INBOUND -p tcp -m tcp --dport 3306 -j ISTIO_IN_REDIRECT"))
        #expect(lines.contains("-A ISTIO_INBOUND -p tcp -m tcp --dport 9080 -j ISTIO_IN_REDIRECT"))
        #expect(!lines.contains("-A ISTIO_INBOUND -p tcp -j ISTIO_IN_REDIRECT"), "only the listed ports")
        #expect(!lines.contains { $0.contains("--uid-owner") })
        let exclusions = ["-A ISTIO_OUTPUT -p tcp -m tcp --dport 5432 -j RETURN", "-A ISTIO_OUTPUT -d 10.0.0.0/8 -j RETURN"]
        for line in exclusions {
            // Before the catch-all jump, or they would never be reached.
            #expect(lines.firstIndex(of: line)! < lines.firstIndex(of: "-A ISTIO_OUTPUT -j ISTIO_REDIRECT")!)
        }
    }

    @Test func badOptionsAreRefusedWithTheirValue() {
        var noOwner = CaptureRules()
        noOwner.proxyUID = nil
        noOwner.proxyGID = nil
        #expect(throws: CaptureRulesError.self) { try noOwner.validate() }
        var port = CaptureRules()
        port.excludedOutboundPorts = [70000]
        #expect(throws: CaptureRulesError("excluded outbound port 70000 is not in 1-65535")) { try port.validate() }
        var range = CaptureRules()
        range.excludedOutboundRanges = ["10.0.0/8"]
        #expect(throws: CaptureRulesError("excluded outbound range \"10.0.0/8\" is not an IPv4 CIDR like 10.0.0.0/8")) { try range.validate() }
    }

    static func listener(_ name: String, host: String, port: UInt32, bindToPort: Bool = true) throws -> ListenerConfig {
        var proto = Envoy_Config_Listener_V3_Listener()
        proto.name = name
        proto.address.socketAddress.address = host
        proto.address.socketAddress.portValue = port
        if !bindToPort { proto.bindToPort = Google_Protobuf_BoolValue(false) }
        if port == 15001 { proto.useOriginalDst = Google_Protobuf_BoolValue(true) }
        var tcp = Envoy_Extensions_Filters_Network_TcpProxy_V3_TcpProxy()
        tcp.statPrefix = name
        tcp.cluster = "PassthroughCluster"
        var filter = Envoy_Config_Listener_V3_Filter()
        filter.name = "envoy.filters.network.tcp_proxy"
        filter.typedConfig = try Google_Protobuf_Any(message: tcp)
        var chain = Envoy_Config_Listener_V3_FilterChain()
        chain.filters = [filter]
        proto.filterChains = [chain]
        return try ListenerConfig(proto: proto, limits: ConfigLimits())
    }

    @Test func redirectedConnectionsGoToTheListenerOfTheirOriginalDestination() throws {
        let listeners = [
            try Self.listener("virtualOutbound", host: "0.0.0.0", port: 15001),
            try Self.listener("0.0.0.0_9080", host: "0.0.0.0", port: 9080, bindToPort: false),
            try Self.listener("10.96.0.10_3306", host: "10.96.0.10", port: 3306, bindToPort: false),
        ]
        #expect(listeners[0].restoresOriginalDestination)
        #expect(!listeners[1].restoresOriginalDestination)
        let snapshot = ProxySnapshot(version: 1, listeners: Dictionary(uniqueKeysWithValues: listeners.map { ($0.name, $0) }),
                                     routeTables: [:], clusters: [:])
        // Any address on 9080: the wildcard listener; an exact address wins over the wildcard.
        #expect(snapshot.listener(handling: try SocketAddress(ipAddress: "10.96.0.77", port: 9080))?.name == "0.0.0.0_9080")
        #expect(snapshot.listener(handling: try SocketAddress(ipAddress: "10.96.0.10", port: 3306))?.name == "10.96.0.10_3306")
        // 3306 elsewhere and undeclared ports: no listener, the virtual one keeps the connection.
        #expect(snapshot.listener(handling: try SocketAddress(ipAddress: "10.96.0.11", port: 3306)) == nil)
        #expect(snapshot.listener(handling: try SocketAddress(ipAddress: "10.1.2.3", port: 7777)) == nil)
    }

    static func passthroughCluster() throws -> UpstreamCluster {
        var proto = Envoy_Config_Cluster_V3_Cluster()
        proto.name = "PassthroughCluster"
        proto.type = .originalDst
        proto.lbPolicy = .clusterProvided
        proto.connectTimeout = .init(seconds: 1)
        return UpstreamCluster(config: try ClusterConfig(proto: proto, limits: ConfigLimits()), assignment: nil, previous: nil)
    }

    @Test func originalDestinationClusterConnectsWhereTheClientWasGoing() throws {
        let cluster = try Self.passthroughCluster()
        var state = LoadBalancerState()
        // A connection that was not redirected has no host (Envoy answers "no healthy upstream").
        #expect(cluster.chooseHost(LoadBalancerContext(), state: &state) == nil)
        var context = LoadBalancerContext()
        context.originalDestination = try SocketAddress(ipAddress: "10.1.2.3", port: 7777)
        let first = try #require(cluster.chooseHost(context, state: &state))
        #expect(first.address == SocketAddressConfig(host: "10.1.2.3", port: 7777))
        // The same destination is the same host (its pooled connections and load are shared),
        // also after the cluster is rebuilt by an update.
        #expect(cluster.chooseHost(context, state: &state) === first)
        let rebuilt = UpstreamCluster(config: cluster.config, assignment: nil, previous: cluster)
        #expect(rebuilt.chooseHost(context, state: &state) === first)
    }

    @Test func originalDestinationHostsStayBounded() throws {
        let hosts = OriginalDestinationHosts(limit: 4)
        let busy = try #require(hosts.host(for: try SocketAddress(ipAddress: "10.0.0.1", port: 80)))
        busy.state.requestStarted()
        for port in 81..<90 { _ = hosts.host(for: try SocketAddress(ipAddress: "10.0.0.1", port: port)) }
        #expect(hosts.count <= 4)
        // A host with a request in flight is never dropped.
        #expect(hosts.host(for: try SocketAddress(ipAddress: "10.0.0.1", port: 80)) === busy)
    }
}
