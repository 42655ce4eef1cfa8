// DestinationRule traffic policies on Envoy clusters: load balancing, connection pools (circuit breakers), outlier detection.

import EnvoyAPI
import MeshAPI
import SwiftProtobuf

/// The parts of a traffic policy that apply to one cluster, after Istio's merge: port-level
/// settings override the rule's, a subset's policy replaces whole parts, then the subset's own
/// port-level settings override those.
struct EffectiveTrafficPolicy {
    var loadBalancer: LoadBalancerSettings?
    var connectionPool: ConnectionPoolSettings?
    var outlierDetection: OutlierDetection?
    var tls: ClientTLSSettings?

    init(rule: DestinationRule?, subset: Subset?, port: UInt32) {
        apply(rule?.trafficPolicy, port: port)
        apply(subset?.trafficPolicy, port: port)
    }

    private mutating func apply(_ policy: TrafficPolicy?, port: UInt32) {
        guard let policy else { return }
        loadBalancer = policy.loadBalancer ?? loadBalancer
        connectionPool = policy.connectionPool ?? connectionPool
        outlierDetection = policy.outlierDetection ?? outlierDetection
        tls = policy.tls ?? tls
        for portPolicy in policy.portLevelSettings ?? [] where portPolicy.port?.number == port {
            loadBalancer = portPolicy.loadBalancer ?? loadBalancer
            connectionPool = portPolicy.connectionPool ?? connectionPool
            outlierDetection = portPolicy.outlierDetection ?? outlierDetection
            tls = portPolicy.tls ?? tls
        }
    }
}

enum TrafficPolicyTranslator {
    /// Envoy's own limits (1024) would cap a busy service; Istio lifts them unless a
    /// DestinationRule sets its own.
    static let unlimited = UInt32.max

    /// Applies `policy` to a service cluster. `http2` says whether the upstream speaks HTTP/2,
    /// so the protocol options keep that setting.
    static func apply(_ policy: EffectiveTrafficPolicy, to cluster: inout Envoy_Config_Cluster_V3_Cluster, http2: Bool) throws {
        loadBalancer(policy.loadBalancer, &cluster)
        var common = Envoy_Config_Core_V3_HttpProtocolOptions()
        var thresholds = Envoy_Config_Cluster_V3_CircuitBreakers.Thresholds()
        thresholds.maxConnections = Google_Protobuf_UInt32Value(unlimited)
        thresholds.maxPendingRequests = Google_Protobuf_UInt32Value(unlimited)
        thresholds.maxRequests = Google_Protobuf_UInt32Value(unlimited)
        thresholds.maxRetries = Google_Protobuf_UInt32Value(unlimited)
        thresholds.trackRemaining = true
        if let http = policy.connectionPool?.http {
            if let value = http.http2MaxRequests, value > 0 { thresholds.maxRequests = Google_Protobuf_UInt32Value(UInt32(value)) }
            if let value = http.http1MaxPendingRequests, value > 0 { thresholds.maxPendingRequests = Google_Protobuf_UInt32Value(UInt32(value)) }
            if let value = http.maxRetries, value > 0 { thresholds.maxRetries = Google_Protobuf_UInt32Value(UInt32(value)) }
            if let value = http.maxRequestsPerConnection, value > 0 { common.maxRequestsPerConnection = Google_Protobuf_UInt32Value(UInt32(value)) }
            if let value = http.idleTimeout { common.idleTimeout = protoDuration(value) }
        }
        if let tcp = policy.connectionPool?.tcp {
            if let value = tcp.connectTimeout { cluster.connectTimeout = protoDuration(value) }
            if let value = tcp.maxConnections, value > 0 { thresholds.maxConnections = Google_Protobuf_UInt32Value(UInt32(value)) }
            if let value = tcp.maxConnectionDuration { common.maxConnectionDuration = protoDuration(value) }
            if let keepalive = tcp.tcpKeepalive {
                var options = Envoy_Config_Core_V3_TcpKeepalive()
                if let probes = keepalive.probes { options.keepaliveProbes = Google_Protobuf_UInt32Value(probes) }
                if let time = keepalive.time { options.keepaliveTime = Google_Protobuf_UInt32Value(UInt32(clamping: time.nanoseconds / 1_000_000_000)) }
                if let interval = keepalive.interval { options.keepaliveInterval = Google_Protobuf_UInt32Value(UInt32(clamping: interval.nanoseconds / 1_000_000_000)) }
                cluster.upstreamConnectionOptions.tcpKeepalive = options
            }
        }
        cluster.circuitBreakers.thresholds = [thresholds]
        if http2 || common != Envoy_Config_Core_V3_HttpProtocolOptions() {
            var options = Envoy_Extensions_Upstreams_Http_V3_HttpProtocolOptions()
            if common != Envoy_Config_Core_V3_HttpProtocolOptions() { options.commonHTTPProtocolOptions = common }
            if http2 {
                options.explicitHTTPConfig.http2ProtocolOptions = Envoy_Config_Core_V3_Http2ProtocolOptions()
            } else {
                // Envoy requires a protocol choice next to the common options: HTTP/1.1.
                options.explicitHTTPConfig.httpProtocolOptions = Envoy_Config_Core_V3_Http1ProtocolOptions()
            }
            cluster.typedExtensionProtocolOptions["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"] = try Google_Protobuf_Any(message: options)
        }
        if let outlier = policy.outlierDetection { outlierDetection(outlier, &cluster) }
    }

    /// Istio's default is LEAST_REQUEST; consistent hashing picks ring hash or Maglev (the hash
    /// key itself is a route setting).
    static func loadBalancer(_ settings: LoadBalancerSettings?, _ cluster: inout Envoy_Config_Cluster_V3_Cluster) {
        if let hash = settings?.consistentHash {
            if let maglev = hash.maglev {
                cluster.lbPolicy = .maglev
                if let size = maglev.tableSize { cluster.maglevLbConfig.tableSize = Google_Protobuf_UInt64Value(size) }
            } else {
                cluster.lbPolicy = .ringHash
                cluster.ringHashLbConfig.minimumRingSize = Google_Protobuf_UInt64Value(hash.ringHash?.minimumRingSize ?? hash.minimumRingSize ?? 1024)
            }
            return
        }
        switch settings?.simple ?? .UNSPECIFIED {
        case .ROUND_ROBIN: cluster.lbPolicy = .roundRobin
        case .RANDOM: cluster.lbPolicy = .random
        case .PASSTHROUGH:
            // Connect to the address the caller used, as a passthrough cluster does.
            cluster.type = .originalDst
            cluster.lbPolicy = .clusterProvided
            cluster.clearEdsClusterConfig()
        case .LEAST_REQUEST, .LEAST_CONN, .UNSPECIFIED: cluster.lbPolicy = .leastRequest
        }
    }

    /// Consecutive-error ejection, with success-rate ejection off and the panic threshold set
    /// from `minHealthPercent` (0 when unset: with few endpoints Envoy's 50% panic mode would
    /// send traffic to ejected hosts), as Istio does.
    static func outlierDetection(_ outlier: OutlierDetection, _ cluster: inout Envoy_Config_Cluster_V3_Cluster) {
        var detection = Envoy_Config_Cluster_V3_OutlierDetection()
        detection.enforcingSuccessRate = Google_Protobuf_UInt32Value(0)
        if let errors = outlier.consecutive5xxErrors {
            detection.consecutive5Xx = Google_Protobuf_UInt32Value(errors)
            detection.enforcingConsecutive5Xx = Google_Protobuf_UInt32Value(errors > 0 ? 100 : 0)
        }
        if let errors = outlier.consecutiveGatewayErrors {
            detection.consecutiveGatewayFailure = Google_Protobuf_UInt32Value(errors)
            detection.enforcingConsecutiveGatewayFailure = Google_Protobuf_UInt32Value(errors > 0 ? 100 : 0)
        }
        if let interval = outlier.interval { detection.interval = protoDuration(interval) }
        if let time = outlier.baseEjectionTime { detection.baseEjectionTime = protoDuration(time) }
        if let percent = outlier.maxEjectionPercent, percent > 0 { detection.maxEjectionPercent = Google_Protobuf_UInt32Value(UInt32(percent)) }
        if outlier.splitExternalLocalOriginErrors == true {
            detection.splitExternalLocalOriginErrors = true
            if let failures = outlier.consecutiveLocalOriginFailures, failures > 0 {
                detection.consecutiveLocalOriginFailure = Google_Protobuf_UInt32Value(failures)
                detection.enforcingConsecutiveLocalOriginFailure = Google_Protobuf_UInt32Value(100)
            }
            detection.enforcingLocalOriginSuccessRate = Google_Protobuf_UInt32Value(0)
        }
        cluster.outlierDetection = detection
        var panic = Envoy_Type_V3_Percent()
        panic.value = Double(max(0, outlier.minHealthPercent ?? 0))
        cluster.commonLbConfig.healthyPanicThreshold = panic
    }

    static func protoDuration(_ value: ProtoDuration) -> Google_Protobuf_Duration {
        Google_Protobuf_Duration(seconds: value.nanoseconds / 1_000_000_000, nanos: Int32(value.nanoseconds % 1_000_000_000))
    }
}
