// A cluster's active health check (Envoy's `HealthCheck`): when to probe each endpoint, how, and what counts as healthy.

import EnvoyAPI
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import SwiftProtobuf

/// Envoy's active health checking for one cluster: every endpoint is probed on its own timer,
/// over HTTP/1.1 (a request whose status must be expected) or TCP (connect, optionally send
/// bytes and find expected bytes in the answer). A host fails after `unhealthyThreshold`
/// consecutive failures (an HTTP status that is neither expected nor retriable fails it at
/// once) and passes again after `healthyThreshold` consecutive successes; a new host is not
/// used until its first check passes (one success suffices then).
public struct HealthCheckConfig: Sendable {
    public enum Probe: Sendable {
        case http(HTTPProbe)
        /// `send` empty: connecting is the check. `receive`: blocks that must all appear in the
        /// answer, in order.
        case tcp(send: [UInt8], receive: [[UInt8]])
    }

    public struct HTTPProbe: Sendable {
        public var path: String
        /// The Host header; empty: the cluster's name (Envoy's default).
        public var host: String
        public var method: String
        /// Envoy's append semantics against the probe's own headers (host, user-agent).
        public var headersToAdd: [HeaderToAdd]
        public var headersToRemove: [String]
        /// Half-open ranges [start, end) of statuses that pass (default: 200).
        public var expectedStatuses: [Range<Int>]
        /// Statuses that count as a failure toward the threshold instead of failing at once.
        public var retriableStatuses: [Range<Int>]

        public func isExpected(_ status: Int) -> Bool { expectedStatuses.contains { $0.contains(status) } }
        public func isRetriable(_ status: Int) -> Bool { retriableStatuses.contains { $0.contains(status) } }
    }

    public var probe: Probe
    public var timeout: Duration
    public var interval: Duration
    /// Added to every wait: a random amount up to this, plus up to this percent of the interval.
    public var intervalJitter: Duration
    public var intervalJitterPercent: Int
    /// The first check waits a random amount up to this.
    public var initialJitter: Duration
    public var unhealthyThreshold: Int
    public var healthyThreshold: Int
    /// The wait while the host is unhealthy (default: `interval`).
    public var unhealthyInterval: Duration
    /// The wait right after a host turned unhealthy / healthy (defaults: `unhealthyInterval` / `interval`).
    public var unhealthyEdgeInterval: Duration
    public var healthyEdgeInterval: Duration
    /// The wait while the cluster has never had a request (Envoy's default: 60 s).
    public var noTrafficInterval: Duration
    /// The port to probe instead of the endpoint's.
    public var alternatePort: Int?

    public init(probe: Probe, timeout: Duration, interval: Duration, unhealthyThreshold: Int, healthyThreshold: Int) {
        self.probe = probe
        self.timeout = timeout
        self.interval = interval
        intervalJitter = .zero
        intervalJitterPercent = 0
        initialJitter = .zero
        self.unhealthyThreshold = unhealthyThreshold
        self.healthyThreshold = healthyThreshold
        unhealthyInterval = interval
        unhealthyEdgeInterval = interval
        healthyEdgeInterval = interval
        noTrafficInterval = .seconds(60)
    }

    public init(proto: Envoy_Config_Core_V3_HealthCheck, at path: String) throws {
        var rest = proto
        func duration(_ has: Bool, _ value: Google_Protobuf_Duration, _ field: String, positive: Bool = true) throws -> Duration? {
            guard has else { return nil }
            let duration = value.swiftDuration
            guard positive ? duration > .zero : duration >= .zero else {
                throw ProxyConfigError("\(path).\(field)", positive ? "must be greater than 0" : "must not be negative")
            }
            return duration
        }
        guard let timeout = try duration(proto.hasTimeout, proto.timeout, "timeout") else {
            throw ProxyConfigError(path + ".timeout", "is required")
        }
        guard let interval = try duration(proto.hasInterval, proto.interval, "interval") else {
            throw ProxyConfigError(path + ".interval", "is required")
        }
        guard proto.hasUnhealthyThreshold else { throw ProxyConfigError(path + ".unhealthy_threshold", "is required") }
        guard proto.hasHealthyThreshold else { throw ProxyConfigError(path + ".healthy_threshold", "is required") }
        let probe: Probe
        switch proto.healthChecker {
        case .httpHealthCheck(let http)?:
            probe = .http(try Self.http(http, at: path + ".http_health_check"))
        case .tcpHealthCheck(let tcp)?:
            let at = path + ".tcp_health_check"
            let send = tcp.hasSend ? try Self.payload(tcp.send, at: at + ".send") : []
            let receive = try tcp.receive.enumerated().map { try Self.payload($1, at: "\(at).receive[\($0)]") }
            probe = .tcp(send: send, receive: receive)
        case .grpcHealthCheck?:
            throw ProxyConfigError(path + ".grpc_health_check", "is not supported by meshproxy (HTTP and TCP health checks are)")
        case .customHealthCheck?:
            throw ProxyConfigError(path + ".custom_health_check", "is not supported by meshproxy (HTTP and TCP health checks are)")
        case nil:
            throw ProxyConfigError(path, "names no health checker (http_health_check or tcp_health_check)")
        }
        self.init(probe: probe, timeout: timeout, interval: interval,
                  unhealthyThreshold: max(1, Int(proto.unhealthyThreshold.value)), healthyThreshold: max(1, Int(proto.healthyThreshold.value)))
        intervalJitter = try duration(proto.hasIntervalJitter, proto.intervalJitter, "interval_jitter", positive: false) ?? .zero
        intervalJitterPercent = Int(proto.intervalJitterPercent)
        initialJitter = try duration(proto.hasInitialJitter, proto.initialJitter, "initial_jitter", positive: false) ?? .zero
        unhealthyInterval = try duration(proto.hasUnhealthyInterval, proto.unhealthyInterval, "unhealthy_interval") ?? interval
        unhealthyEdgeInterval = try duration(proto.hasUnhealthyEdgeInterval, proto.unhealthyEdgeInterval, "unhealthy_edge_interval") ?? unhealthyInterval
        healthyEdgeInterval = try duration(proto.hasHealthyEdgeInterval, proto.healthyEdgeInterval, "healthy_edge_interval") ?? interval
        noTrafficInterval = try duration(proto.hasNoTrafficInterval, proto.noTrafficInterval, "no_traffic_interval") ?? .seconds(60)
        if proto.hasAltPort {
            guard (1...65535).contains(proto.altPort.value) else { throw ProxyConfigError(path + ".alt_port", "must be a port from 1 to 65535") }
            alternatePort = Int(proto.altPort.value)
        }
        rest.clearTimeout()
        rest.clearInterval()
        rest.clearIntervalJitter()
        rest.clearInitialJitter()
        rest.clearUnhealthyInterval()
        rest.clearUnhealthyEdgeInterval()
        rest.clearHealthyEdgeInterval()
        rest.clearNoTrafficInterval()
        rest.intervalJitterPercent = 0
        rest.clearUnhealthyThreshold()
        rest.clearHealthyThreshold()
        rest.clearAltPort()
        rest.healthChecker = nil
        // meshproxy opens a connection per check; reusing one is an optimisation, not a meaning.
        rest.clearReuseConnection()
        // Transitions are always logged.
        rest.alwaysLogHealthCheckFailures = false
        rest.alwaysLogHealthCheckSuccess = false
        try requireNothingElse(rest, at: path)
    }

    static func http(_ proto: Envoy_Config_Core_V3_HealthCheck.HttpHealthCheck, at path: String) throws -> HTTPProbe {
        guard proto.path.hasPrefix("/") else { throw ProxyConfigError(path + ".path", "must start with / (it is required)") }
        guard !proto.path.contains(where: { $0 == " " || $0 == "\r" || $0 == "\n" }) else {
            throw ProxyConfigError(path + ".path", "has a space or line break")
        }
        guard !proto.host.contains(where: { $0 == " " || $0 == "\r" || $0 == "\n" }) else {
            throw ProxyConfigError(path + ".host", "has a space or line break")
        }
        let method: String
        switch proto.method {
        case .methodUnspecified, .get: method = "GET"
        case .head: method = "HEAD"
        case .post: method = "POST"
        case .put: method = "PUT"
        case .delete: method = "DELETE"
        case .options: method = "OPTIONS"
        case .trace: method = "TRACE"
        case .patch: method = "PATCH"
        case .connect: throw ProxyConfigError(path + ".method", "CONNECT is not allowed (Envoy's rule)")
        case .UNRECOGNIZED(let value): throw ProxyConfigError(path + ".method", "unknown value \(value)")
        }
        guard proto.codecClientType == .http1 else {
            throw ProxyConfigError(path + ".codec_client_type", "meshproxy health-checks over HTTP/1.1 only")
        }
        let headersToAdd = try HeaderToAdd.list(proto.requestHeadersToAdd, at: path + ".request_headers_to_add")
        func ranges(_ list: [Envoy_Type_V3_Int64Range], _ field: String) throws -> [Range<Int>] {
            try list.enumerated().map { index, range in
                guard range.start >= 100, range.end <= 600, range.start < range.end else {
                    throw ProxyConfigError("\(path).\(field)[\(index)]", "must be within [100, 600) with start < end")
                }
                return Int(range.start)..<Int(range.end)
            }
        }
        let probe = HTTPProbe(path: proto.path, host: proto.host, method: method, headersToAdd: headersToAdd,
                              headersToRemove: proto.requestHeadersToRemove.map { $0.lowercased() },
                              expectedStatuses: proto.expectedStatuses.isEmpty ? [200..<201] : try ranges(proto.expectedStatuses, "expected_statuses"),
                              retriableStatuses: try ranges(proto.retriableStatuses, "retriable_statuses"))
        var rest = proto
        rest.path = ""
        rest.host = ""
        rest.method = .methodUnspecified
        rest.requestHeadersToAdd = []
        rest.requestHeadersToRemove = []
        rest.expectedStatuses = []
        rest.retriableStatuses = []
        try requireNothingElse(rest, at: path)
        return probe
    }

    static func payload(_ proto: Envoy_Config_Core_V3_HealthCheck.Payload, at path: String) throws -> [UInt8] {
        switch proto.payload {
        case .text(let hex)?:
            let digits = Array(hex.utf8)
            guard digits.count % 2 == 0, !digits.isEmpty else { throw ProxyConfigError(path + ".text", "is not hex bytes") }
            var bytes: [UInt8] = []
            for index in stride(from: 0, to: digits.count, by: 2) {
                guard let byte = UInt8(String(decoding: digits[index..<index + 2], as: UTF8.self), radix: 16) else {
                    throw ProxyConfigError(path + ".text", "is not hex bytes")
                }
                bytes.append(byte)
            }
            return bytes
        case .binary(let data)?:
            guard !data.isEmpty else { throw ProxyConfigError(path + ".binary", "is empty") }
            return Array(data)
        case nil:
            throw ProxyConfigError(path, "is empty")
        }
    }
}
