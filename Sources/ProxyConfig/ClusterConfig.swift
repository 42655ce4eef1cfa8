// A cluster as the proxy runs it: how endpoints are found, balanced, limited and ejected.

import EnvoyAPI

public struct ClusterConfig: Sendable {
    public enum Discovery: Sendable {
        /// Endpoints arrive over EDS under this name.
        case eds(serviceName: String)
        case staticEndpoints(LoadAssignment)
        /// Endpoints named by host name, resolved by the proxy (STRICT_DNS: every address of
        /// every name is a host; LOGICAL_DNS: the first address is the one host).
        case dns(LoadAssignment, DNSResolution)
        /// The connection's original destination is the endpoint (iptables capture).
        case originalDestination
    }

    /// How a DNS cluster resolves its endpoints' names.
    public struct DNSResolution: Sendable, Equatable {
        /// Envoy's `dns_lookup_family`.
        public enum Family: Sendable, Equatable {
            /// IPv6 if the name has any such address, else IPv4 (Envoy's AUTO).
            case auto
            case v4Only, v6Only
            /// IPv4 if any, else IPv6.
            case v4Preferred
            /// Both families.
            case all
        }

        public var family: Family
        /// How often names are resolved again (`dns_refresh_rate`, default 5 s). With
        /// `respect_dns_ttl` Envoy follows the records' TTL; the system resolver meshproxy uses
        /// does not report it, so the refresh rate applies either way.
        public var refresh: Duration
        /// LOGICAL_DNS: one host, the first address resolved (Envoy's DNS_ROUND_ROBIN services).
        public var logical: Bool

        public init(family: Family = .auto, refresh: Duration = .seconds(5), logical: Bool = false) {
            self.family = family
            self.refresh = refresh
            self.logical = logical
        }
    }

    public enum LoadBalancerPolicy: Sendable, Equatable {
        case roundRobin
        case leastRequest(choiceCount: Int)
        case random
        case ringHash(minimumRingSize: Int, maximumRingSize: Int)
        case maglev(tableSize: Int)
        case clusterProvided
    }

    /// Envoy's circuit-breaker thresholds (default priority); Envoy's defaults when unset.
    public struct Thresholds: Sendable, Equatable {
        public var maxConnections = 1024
        public var maxPendingRequests = 1024
        public var maxRequests = 1024
        public var maxRetries = 3
    }

    public struct OutlierDetection: Sendable {
        public var consecutive5xx: Int
        public var enforcingConsecutive5xx: Int
        public var consecutiveGatewayFailure: Int
        public var enforcingConsecutiveGatewayFailure: Int
        public var consecutiveLocalOriginFailure: Int
        public var splitExternalLocalOriginErrors: Bool
        public var interval: Duration
        public var baseEjectionTime: Duration
        public var maxEjectionTime: Duration
        public var maxEjectionPercent: Int
    }

    /// `transport_socket_matches`: the first whose tlsMode (nil: any) is the endpoint's wins.
    public struct TransportSocketMatch: Sendable {
        public var name: String
        public var tlsMode: String?
        public var tls: TLSContextConfig?
    }

    public var name: String
    public var discovery: Discovery
    /// TLS to every endpoint (`transport_socket`) unless a socket match says otherwise.
    public var tls: TLSContextConfig?
    public var tlsByEndpoint: [TransportSocketMatch]
    public var loadBalancer: LoadBalancerPolicy
    public var connectTimeout: Duration
    public var thresholds: Thresholds
    public var outlierDetection: OutlierDetection?
    /// Active health checking of every endpoint (`health_checks`, at most one).
    public var healthCheck: HealthCheckConfig?
    /// Below this share of healthy hosts, balancing ignores health (Envoy's panic mode), in percent.
    public var healthyPanicThreshold: Double
    public var localityWeighted: Bool
    /// An idle upstream connection is closed after this long (Envoy's default: 1 hour).
    public var idleTimeout: Duration?
    public var maxRequestsPerConnection: Int?
    /// The upstream speaks HTTP/2 (h2c): one multiplexed connection per host and worker, a
    /// stream per request (`explicit_http_config.http2_protocol_options`; ConfigGen sets it for
    /// gRPC and HTTP/2 ports).
    public var upstreamHTTP2: Bool
    /// The source address of upstream connections, when the cluster sets its own (Istio's
    /// inbound passthrough uses 127.0.0.6); otherwise the bootstrap's.
    public var bindAddress: String?
    /// The mesh service behind the cluster (`metadata.filter_metadata.istio.services[0].host`,
    /// as Istio marks its service clusters): Istio's `destination_service`, and the sign that
    /// the upstream is in the mesh, so peer metadata may be sent to it.
    public var meshService: String?
    /// Istio's TCP metadata exchange on the cluster's TCP proxy connections over TLS: they offer
    /// its ALPN and, once it is negotiated, exchange metadata with the peer proxy (an upstream
    /// `istio.metadata_exchange` filter, which meshd sends to meshproxy nodes only).
    public var metadataExchange: MetadataExchangeConfig?

    public init(proto: Envoy_Config_Cluster_V3_Cluster, limits: ConfigLimits) throws {
        let path = "clusters[\(proto.name)]"
        var rest = proto
        name = proto.name
        rest.name = ""
        rest.altStatName = ""
        switch proto.clusterDiscoveryType {
        case .type(.eds)?:
            var eds = proto.edsClusterConfig
            eds.serviceName = ""
            eds.clearEdsConfig()  // where EDS comes from: the proxy's one ADS stream
            try requireNothingElse(eds, at: path + ".eds_cluster_config")
            discovery = .eds(serviceName: proto.edsClusterConfig.serviceName.isEmpty ? proto.name : proto.edsClusterConfig.serviceName)
        case .type(.static)?, nil:
            discovery = .staticEndpoints(try LoadAssignment(proto: proto.loadAssignment, at: path + ".load_assignment"))
        case .type(.strictDns)?, .type(.logicalDns)?:
            let assignment = try LoadAssignment(proto: proto.loadAssignment, at: path + ".load_assignment", requireAddresses: false)
            let logical = proto.type == .logicalDns
            if logical, assignment.localities.count != 1 || assignment.localities[0].endpoints.count != 1 {
                throw ProxyConfigError(path + ".load_assignment", "a LOGICAL_DNS cluster has exactly one endpoint (Envoy's rule)")
            }
            var resolution = DNSResolution(logical: logical)
            switch proto.dnsLookupFamily {
            case .auto: resolution.family = .auto
            case .v4Only: resolution.family = .v4Only
            case .v6Only: resolution.family = .v6Only
            case .v4Preferred: resolution.family = .v4Preferred
            case .all: resolution.family = .all
            case .UNRECOGNIZED(let value): throw ProxyConfigError(path + ".dns_lookup_family", "unknown value \(value)")
            }
            if proto.hasDnsRefreshRate {
                resolution.refresh = proto.dnsRefreshRate.swiftDuration
                guard resolution.refresh >= .milliseconds(1) else {
                    throw ProxyConfigError(path + ".dns_refresh_rate", "must be at least 1ms (Envoy's rule)")
                }
            }
            discovery = .dns(assignment, resolution)
        case .type(.originalDst)?:
            discovery = .originalDestination
        default:
            throw ProxyConfigError(path + ".type", "discovery type \(proto.type) is not supported by meshproxy")
        }
        rest.clusterDiscoveryType = nil
        rest.clearEdsClusterConfig()
        rest.clearLoadAssignment()
        rest.clearDnsRefreshRate()
        rest.respectDnsTtl = false
        rest.dnsLookupFamily = .auto
        switch proto.lbPolicy {
        case .roundRobin: loadBalancer = .roundRobin
        case .leastRequest:
            let choices = proto.leastRequestLbConfig.hasChoiceCount ? Int(proto.leastRequestLbConfig.choiceCount.value) : 2
            loadBalancer = .leastRequest(choiceCount: max(2, choices))
        case .random: loadBalancer = .random
        case .ringHash:
            let config = proto.ringHashLbConfig
            loadBalancer = .ringHash(minimumRingSize: config.hasMinimumRingSize ? Int(config.minimumRingSize.value) : 1024,
                                     maximumRingSize: config.hasMaximumRingSize ? Int(config.maximumRingSize.value) : 8_388_608)
        case .maglev:
            loadBalancer = .maglev(tableSize: proto.maglevLbConfig.hasTableSize ? Int(proto.maglevLbConfig.tableSize.value) : 65537)
        case .clusterProvided: loadBalancer = .clusterProvided
        default: throw ProxyConfigError(path + ".lb_policy", "\(proto.lbPolicy) is not supported by meshproxy")
        }
        rest.lbPolicy = .roundRobin
        rest.lbConfig = nil
        connectTimeout = proto.hasConnectTimeout ? proto.connectTimeout.swiftDuration : .seconds(5)
        rest.clearConnectTimeout()
        thresholds = Thresholds()
        if proto.hasCircuitBreakers {
            var breakersRest = proto.circuitBreakers
            breakersRest.thresholds = []
            try requireNothingElse(breakersRest, at: path + ".circuit_breakers")
            for (index, limit) in proto.circuitBreakers.thresholds.enumerated() where limit.priority == .default {
                var limitRest = limit
                limitRest.clearMaxConnections()
                limitRest.clearMaxPendingRequests()
                limitRest.clearMaxRequests()
                limitRest.clearMaxRetries()
                limitRest.trackRemaining = false
                try requireNothingElse(limitRest, at: "\(path).circuit_breakers.thresholds[\(index)]")
                if limit.hasMaxConnections { thresholds.maxConnections = Int(limit.maxConnections.value) }
                if limit.hasMaxPendingRequests { thresholds.maxPendingRequests = Int(limit.maxPendingRequests.value) }
                if limit.hasMaxRequests { thresholds.maxRequests = Int(limit.maxRequests.value) }
                if limit.hasMaxRetries { thresholds.maxRetries = Int(limit.maxRetries.value) }
            }
        }
        rest.clearCircuitBreakers()
        outlierDetection = proto.hasOutlierDetection ? try Self.outlier(proto.outlierDetection, at: path + ".outlier_detection") : nil
        rest.clearOutlierDetection()
        healthyPanicThreshold = 50
        localityWeighted = false
        if proto.hasCommonLbConfig {
            var commonRest = proto.commonLbConfig
            if proto.commonLbConfig.hasHealthyPanicThreshold { healthyPanicThreshold = proto.commonLbConfig.healthyPanicThreshold.value }
            commonRest.clearHealthyPanicThreshold()
            if case .localityWeightedLbConfig? = proto.commonLbConfig.localityConfigSpecifier { localityWeighted = true }
            commonRest.localityConfigSpecifier = nil
            try requireNothingElse(commonRest, at: path + ".common_lb_config")
        }
        rest.clearCommonLbConfig()
        idleTimeout = .seconds(3600)
        maxRequestsPerConnection = nil
        var upstreamHTTP2 = false
        for (key, value) in proto.typedExtensionProtocolOptions {
            let optionsPath = "\(path).typed_extension_protocol_options[\(key)]"
            guard key == "envoy.extensions.upstreams.http.v3.HttpProtocolOptions" else {
                throw ProxyConfigError(optionsPath, "is not supported by meshproxy")
            }
            let options = try unpack(value, as: Envoy_Extensions_Upstreams_Http_V3_HttpProtocolOptions.self, at: optionsPath)
            var optionsRest = options
            let common = options.commonHTTPProtocolOptions
            if common.hasIdleTimeout { idleTimeout = common.idleTimeout.swiftDuration == .zero ? nil : common.idleTimeout.swiftDuration }
            if common.hasMaxRequestsPerConnection, common.maxRequestsPerConnection.value > 0 {
                maxRequestsPerConnection = Int(common.maxRequestsPerConnection.value)
            }
            var commonRest = common
            commonRest.clearIdleTimeout()
            commonRest.clearMaxRequestsPerConnection()
            try requireNothingElse(commonRest, at: optionsPath + ".common_http_protocol_options")
            optionsRest.clearCommonHTTPProtocolOptions()
            if case .explicitHTTPConfig(let explicit)? = options.upstreamProtocolOptions {
                switch explicit.protocolConfig {
                case .httpProtocolOptions(let http1)?:
                    try requireNothingElse(http1, at: optionsPath + ".explicit_http_config.http_protocol_options")
                case .http2ProtocolOptions(let http2)?:
                    try requireNothingElse(http2, at: optionsPath + ".explicit_http_config.http2_protocol_options")
                    upstreamHTTP2 = true
                case .http3ProtocolOptions?, nil:
                    throw ProxyConfigError(optionsPath + ".explicit_http_config", "needs http_protocol_options or http2_protocol_options")
                }
                optionsRest.upstreamProtocolOptions = nil
            }
            try requireNothingElse(optionsRest, at: optionsPath)
        }
        rest.typedExtensionProtocolOptions = [:]
        self.upstreamHTTP2 = upstreamHTTP2
        if proto.hasMaxRequestsPerConnection, proto.maxRequestsPerConnection.value > 0 {
            maxRequestsPerConnection = Int(proto.maxRequestsPerConnection.value)
        }
        rest.clearMaxRequestsPerConnection()
        tls = proto.hasTransportSocket
            ? try TLSContextConfig.transportSocket(proto.transportSocket, role: .client, limits: limits, at: path + ".transport_socket") : nil
        rest.clearTransportSocket()
        tlsByEndpoint = try proto.transportSocketMatches.enumerated().map { index, match in
            let matchPath = "\(path).transport_socket_matches[\(index)]"
            // Endpoints carry Istio's one key (`tlsMode`) in their socket-match metadata.
            var tlsMode: String?
            for (key, value) in match.match.fields {
                guard key == "tlsMode", case .stringValue(let mode)? = value.kind else {
                    throw ProxyConfigError(matchPath + ".match", "meshproxy matches endpoints on a string tlsMode only (got \(key))")
                }
                tlsMode = mode
            }
            return TransportSocketMatch(name: match.name, tlsMode: tlsMode,
                                        tls: try TLSContextConfig.transportSocket(match.transportSocket, role: .client, limits: limits,
                                                                                  at: matchPath + ".transport_socket"))
        }
        rest.transportSocketMatches = []
        bindAddress = proto.hasUpstreamBindConfig && proto.upstreamBindConfig.hasSourceAddress ? proto.upstreamBindConfig.sourceAddress.address : nil
        if let bindAddress, !isIPAddress(bindAddress) {
            throw ProxyConfigError(path + ".upstream_bind_config.source_address.address", "\"\(bindAddress)\" is not an IP address")
        }
        if proto.hasUpstreamBindConfig {
            var bindRest = proto.upstreamBindConfig
            bindRest.clearSourceAddress()
            try requireNothingElse(bindRest, at: path + ".upstream_bind_config")
        }
        rest.clearUpstreamBindConfig()
        if proto.healthChecks.count > 1 {
            throw ProxyConfigError(path + ".health_checks[1]", "meshproxy runs one health check per cluster")
        }
        if let check = proto.healthChecks.first {
            // Envoy checks through the cluster's transport socket; meshproxy probes in plaintext,
            // so a TLS cluster's checks would not test what its traffic uses.
            guard tls == nil, tlsByEndpoint.isEmpty else {
                throw ProxyConfigError(path + ".health_checks[0]", "meshproxy health-checks plaintext clusters only (this one has a transport socket)")
            }
            if case .originalDestination = discovery {
                throw ProxyConfigError(path + ".health_checks[0]", "an ORIGINAL_DST cluster has no endpoints to check")
            }
            healthCheck = try HealthCheckConfig(proto: check, at: path + ".health_checks[0]")
        }
        rest.healthChecks = []
        // TCP keepalive on upstream sockets: applied when connecting.
        rest.clearUpstreamConnectionOptions()
        meshService = Self.meshService(proto.metadata)
        rest.clearMetadata()
        for (index, filter) in proto.filters.enumerated() {
            let filterPath = "\(path).filters[\(index)]"
            guard filter.name == MetadataExchangeConfig.filterName else {
                throw ProxyConfigError(filterPath, "upstream network filter \(filter.name) is not supported by meshproxy (only \(MetadataExchangeConfig.filterName))")
            }
            guard tls != nil || !tlsByEndpoint.isEmpty else {
                throw ProxyConfigError(filterPath, "the exchange needs TLS to negotiate its ALPN, and the cluster has no transport socket")
            }
            guard !filter.hasConfigDiscovery else { throw ProxyConfigError(filterPath + ".config_discovery", "is not supported by meshproxy") }
            metadataExchange = try MetadataExchangeConfig(typedConfig: filter.typedConfig, at: filterPath)
        }
        rest.filters = []
        try requireNothingElse(rest, at: path)
    }

    static func outlier(_ proto: Envoy_Config_Cluster_V3_OutlierDetection, at path: String) throws -> OutlierDetection {
        var rest = proto
        func value(_ has: Bool, _ value: UInt32, _ fallback: Int) -> Int { has ? Int(value) : fallback }
        let detection = OutlierDetection(
            consecutive5xx: value(proto.hasConsecutive5Xx, proto.consecutive5Xx.value, 5),
            enforcingConsecutive5xx: value(proto.hasEnforcingConsecutive5Xx, proto.enforcingConsecutive5Xx.value, 100),
            consecutiveGatewayFailure: value(proto.hasConsecutiveGatewayFailure, proto.consecutiveGatewayFailure.value, 5),
            enforcingConsecutiveGatewayFailure: value(proto.hasEnforcingConsecutiveGatewayFailure, proto.enforcingConsecutiveGatewayFailure.value, 0),
            consecutiveLocalOriginFailure: value(proto.hasConsecutiveLocalOriginFailure, proto.consecutiveLocalOriginFailure.value, 5),
            splitExternalLocalOriginErrors: proto.splitExternalLocalOriginErrors,
            interval: proto.hasInterval ? proto.interval.swiftDuration : .seconds(10),
            baseEjectionTime: proto.hasBaseEjectionTime ? proto.baseEjectionTime.swiftDuration : .seconds(30),
            maxEjectionTime: proto.hasMaxEjectionTime ? proto.maxEjectionTime.swiftDuration : .seconds(300),
            maxEjectionPercent: value(proto.hasMaxEjectionPercent, proto.maxEjectionPercent.value, 10))
        rest.clearConsecutive5Xx()
        rest.clearEnforcingConsecutive5Xx()
        rest.clearConsecutiveGatewayFailure()
        rest.clearEnforcingConsecutiveGatewayFailure()
        rest.clearConsecutiveLocalOriginFailure()
        rest.splitExternalLocalOriginErrors = false
        rest.clearInterval()
        rest.clearBaseEjectionTime()
        rest.clearMaxEjectionTime()
        rest.clearMaxEjectionPercent()
        // Success-rate ejection is off when its enforcement is 0, which is how Istio configures it.
        if proto.hasEnforcingSuccessRate, proto.enforcingSuccessRate.value == 0 { rest.clearEnforcingSuccessRate() }
        try requireNothingElse(rest, at: path)
        return detection
    }
}

extension ClusterConfig {
    /// The TLS a connection to an endpoint with `tlsMode` uses: the first matching socket match,
    /// else the cluster's transport socket (Envoy's order).
    public func tls(forEndpointTLSMode tlsMode: String?) -> TLSContextConfig? {
        for match in tlsByEndpoint where match.tlsMode == nil || match.tlsMode == tlsMode { return match.tls }
        return tls
    }
}

extension ClusterConfig {
    /// The first service host Istio's cluster metadata names, if any.
    static func meshService(_ metadata: Envoy_Config_Core_V3_Metadata) -> String? {
        guard case .listValue(let services)? = metadata.filterMetadata["istio"]?.fields["services"]?.kind,
              case .structValue(let first)? = services.values.first?.kind,
              case .stringValue(let host)? = first.fields["host"]?.kind, !host.isEmpty else { return nil }
        return host
    }
}
