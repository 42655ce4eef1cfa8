// An HTTP connection manager's tracing: the tracer and its collector, sampling, and the tags spans carry.

import EnvoyAPI
#if canImport(Glibc)
import Glibc
#endif
import SwiftProtobuf
import Telemetry

/// What the connection manager's `tracing` asks for. meshproxy speaks the two tracers ConfigGen
/// emits, Envoy's zipkin (v2 JSON over HTTP) and opentelemetry (OTLP over HTTP or gRPC); any
/// setting it does not implement is refused with its path.
public struct TracingConfig: Sendable, Equatable {
    /// Where spans go and in which encoding.
    public enum Collector: Sendable, Hashable {
        /// Zipkin v2 JSON, POSTed to `path` on the cluster.
        case zipkin(HTTPTarget)
        /// OTLP `ExportTraceServiceRequest` in protobuf, POSTed to `path` (OTLP/HTTP).
        case otlpHTTP(HTTPTarget)
        /// OTLP over gRPC: `TraceService/Export` on the cluster.
        case otlpGRPC(HTTPTarget)
    }

    /// Envoy's name of the tracer, as its errors say it.
    public var tracerName: String {
        if case .zipkin = collector { return "envoy.tracers.zipkin" }
        return "envoy.tracers.opentelemetry"
    }

    /// The cluster reports go to (Envoy refuses a tracer whose cluster it does not have).
    public var collectorCluster: String {
        switch collector {
        case .zipkin(let target), .otlpHTTP(let target), .otlpGRPC(let target): return target.cluster
        }
    }

    public struct HTTPTarget: Sendable, Hashable {
        public var cluster: String
        /// The `Host` (`:authority`) of report requests.
        public var authority: String
        public var path: String
        public var timeout: Duration
        public var headers: [Header]

        public struct Header: Sendable, Hashable {
            public var name: String
            public var value: String
        }
    }

    /// A tag every span of the manager gets: a fixed value (literals, and environment variables
    /// read when the config is taken, as Envoy reads them) or a request header.
    public enum CustomTag: Sendable, Equatable {
        case literal(name: String, value: String)
        case requestHeader(name: String, header: String, defaultValue: String)
    }

    public var collector: Collector
    public var propagation: TracePropagation
    /// New traces get a 128-bit ID (Zipkin's `trace_id_128bit`; always for OpenTelemetry).
    public var traceID128: Bool
    /// Sampling rates in hundredths of a percent (0...10000), as Envoy compares them.
    public var randomSampling: Int
    public var clientSampling: Int
    public var overallSampling: Int
    /// `http.url` is cut to this many bytes (Envoy's default 256).
    public var maxPathTagLength: Int
    public var customTags: [CustomTag]
    /// OpenTelemetry's `service_name`; nil: the node's cluster.
    public var serviceName: String?
    /// Envoy's rule: an outbound listener's requests are the client side of a call (egress),
    /// any other listener's the server side (ingress).
    public var spanKind: TraceSpan.Kind = .server

    static let defaultTimeout = Duration.seconds(5)

    /// nil when the manager traces nothing (no `tracing`, or one without a tracer).
    static func parse(_ manager: Envoy_Extensions_Filters_Network_HttpConnectionManager_V3_HttpConnectionManager,
                      direction: ListenerConfig.Direction, at managerPath: String) throws -> TracingConfig? {
        guard manager.hasTracing else { return nil }
        let path = managerPath + ".tracing"
        var rest = manager.tracing
        guard rest.hasProvider else { return nil }  // Envoy samples but, with no tracer, reports nothing
        let sampling = { (has: Bool, percent: Envoy_Type_V3_Percent, field: String) throws -> Int in
            guard has else { return 10_000 }
            guard percent.value >= 0, percent.value <= 100 else { throw ProxyConfigError("\(path).\(field)", "must be between 0 and 100, got \(percent.value)") }
            return Int((percent.value * 100).rounded())
        }
        let random = try sampling(rest.hasRandomSampling, rest.randomSampling, "random_sampling")
        let client = try sampling(rest.hasClientSampling, rest.clientSampling, "client_sampling")
        let overall = try sampling(rest.hasOverallSampling, rest.overallSampling, "overall_sampling")
        rest.clearRandomSampling()
        rest.clearClientSampling()
        rest.clearOverallSampling()
        let maxPath = rest.hasMaxPathTagLength ? Int(rest.maxPathTagLength.value) : 256
        rest.clearMaxPathTagLength()
        let tags = try rest.customTags.enumerated().map { index, tag in try customTag(tag, at: "\(path).custom_tags[\(index)]") }
        rest.customTags = []
        if rest.hasSpawnUpstreamSpan, !rest.spawnUpstreamSpan.value { rest.clearSpawnUpstreamSpan() }
        let provider = rest.provider
        rest.clearProvider()
        try requireNothingElse(rest, at: path)
        var config: TracingConfig
        switch provider.name {
        case "envoy.tracers.zipkin":
            config = try zipkin(try unpack(provider.typedConfig, as: Envoy_Config_Trace_V3_ZipkinConfig.self, at: "\(path).provider.typed_config"),
                                at: "\(path).provider.typed_config")
        case "envoy.tracers.opentelemetry":
            config = try openTelemetry(try unpack(provider.typedConfig, as: Envoy_Config_Trace_V3_OpenTelemetryConfig.self, at: "\(path).provider.typed_config"),
                                       at: "\(path).provider.typed_config")
        default:
            throw ProxyConfigError("\(path).provider.name", "tracer \(provider.name) is not supported by meshproxy (envoy.tracers.zipkin, envoy.tracers.opentelemetry)")
        }
        config.randomSampling = random
        config.clientSampling = client
        config.overallSampling = overall
        config.maxPathTagLength = maxPath
        config.customTags = tags
        config.spanKind = direction == .outbound ? .client : .server
        return config
    }

    private static func customTag(_ tag: Envoy_Type_Tracing_V3_CustomTag, at path: String) throws -> CustomTag {
        guard !tag.tag.isEmpty else { throw ProxyConfigError("\(path).tag", "is empty") }
        switch tag.type {
        case .literal(let literal)?:
            return .literal(name: tag.tag, value: literal.value)
        case .environment(let environment)?:
            let value = getenv(environment.name).map { String(cString: $0) } ?? environment.defaultValue
            return .literal(name: tag.tag, value: value)
        case .requestHeader(let header)?:
            guard !header.name.isEmpty else { throw ProxyConfigError("\(path).request_header.name", "is empty") }
            return .requestHeader(name: tag.tag, header: header.name.lowercased(), defaultValue: header.defaultValue)
        case .metadata?:
            throw ProxyConfigError("\(path).metadata", "metadata span tags are not supported by meshproxy")
        case .value?:
            throw ProxyConfigError("\(path).value", "formatted span tags are not supported by meshproxy")
        case nil:
            throw ProxyConfigError(path, "sets no value (literal, environment or request_header)")
        }
    }

    private static func zipkin(_ proto: Envoy_Config_Trace_V3_ZipkinConfig, at path: String) throws -> TracingConfig {
        var rest = proto
        guard proto.collectorEndpointVersion == .httpJson else {
            throw ProxyConfigError("\(path).collector_endpoint_version", "only HTTP_JSON is supported by meshproxy")
        }
        rest.collectorEndpointVersion = .deprecatedAndUnavailableDoNotUse
        // Envoy's default shares one span between client and server; Istio turns that off, and
        // meshproxy makes a span of its own on every hop.
        guard proto.hasSharedSpanContext, !proto.sharedSpanContext.value else {
            throw ProxyConfigError("\(path).shared_span_context", "must be false: meshproxy does not share spans between client and server")
        }
        rest.clearSharedSpanContext()
        let propagation: TracePropagation
        switch proto.traceContextOption {
        case .useB3: propagation = .b3
        case .useB3WithW3CPropagation: propagation = .b3AndW3C
        case .UNRECOGNIZED(let value): throw ProxyConfigError("\(path).trace_context_option", "unknown value \(value)")
        }
        rest.traceContextOption = .useB3
        rest.traceID128Bit = false
        let target: HTTPTarget
        if proto.hasCollectorService {
            target = try httpTarget(proto.collectorService, defaultPath: "/api/v2/spans", at: "\(path).collector_service")
            rest.clearCollectorService()
        } else {
            guard !proto.collectorCluster.isEmpty else { throw ProxyConfigError(path, "needs collector_service or collector_cluster") }
            let endpoint = proto.collectorEndpoint.isEmpty ? "/api/v2/spans" : proto.collectorEndpoint
            target = HTTPTarget(cluster: proto.collectorCluster, authority: proto.collectorHostname.isEmpty ? proto.collectorCluster : proto.collectorHostname,
                                path: endpoint, timeout: defaultTimeout, headers: [])
            rest.collectorCluster = ""
            rest.collectorEndpoint = ""
            rest.collectorHostname = ""
        }
        try requireNothingElse(rest, at: path)
        return TracingConfig(collector: .zipkin(target), propagation: propagation, traceID128: proto.traceID128Bit,
                             randomSampling: 10_000, clientSampling: 10_000, overallSampling: 10_000, maxPathTagLength: 256, customTags: [])
    }

    private static func openTelemetry(_ proto: Envoy_Config_Trace_V3_OpenTelemetryConfig, at path: String) throws -> TracingConfig {
        var rest = proto
        let collector: Collector
        if proto.hasHTTPService {
            collector = .otlpHTTP(try httpTarget(proto.httpService, defaultPath: "/v1/traces", at: "\(path).http_service"))
            rest.clearHTTPService()
        } else if proto.hasGrpcService {
            let grpcPath = "\(path).grpc_service"
            var grpc = proto.grpcService
            guard case .envoyGrpc(let envoyGrpc)? = grpc.targetSpecifier else {
                throw ProxyConfigError(grpcPath, "needs envoy_grpc (google_grpc is not supported by meshproxy)")
            }
            var envoyRest = envoyGrpc
            envoyRest.clusterName = ""
            envoyRest.authority = ""
            try requireNothingElse(envoyRest, at: "\(grpcPath).envoy_grpc")
            grpc.targetSpecifier = nil
            let timeout = grpc.hasTimeout ? try positive(grpc.timeout, at: "\(grpcPath).timeout") : defaultTimeout
            grpc.clearTimeout()
            let headers = grpc.initialMetadata.map { HTTPTarget.Header(name: $0.key.lowercased(), value: $0.value) }
            grpc.initialMetadata = []
            try requireNothingElse(grpc, at: grpcPath)
            collector = .otlpGRPC(HTTPTarget(cluster: envoyGrpc.clusterName, authority: envoyGrpc.authority.isEmpty ? envoyGrpc.clusterName : envoyGrpc.authority,
                                             path: "/opentelemetry.proto.collector.trace.v1.TraceService/Export", timeout: timeout, headers: headers))
            rest.clearGrpcService()
        } else {
            throw ProxyConfigError(path, "needs http_service or grpc_service")
        }
        let serviceName = proto.serviceName.isEmpty ? nil : proto.serviceName
        rest.serviceName = ""
        try requireNothingElse(rest, at: path)
        var config = TracingConfig(collector: collector, propagation: .w3c, traceID128: true, randomSampling: 10_000, clientSampling: 10_000,
                                   overallSampling: 10_000, maxPathTagLength: 256, customTags: [])
        config.serviceName = serviceName
        return config
    }

    /// `http_uri.uri` is `[http://]host[:port]/path` (Istio writes it without a scheme for OTLP).
    private static func httpTarget(_ service: Envoy_Config_Core_V3_HttpService, defaultPath: String, at path: String) throws -> HTTPTarget {
        var uri = service.httpUri.uri
        if uri.hasPrefix("http://") {
            uri.removeFirst("http://".count)
        } else if uri.hasPrefix("https://") {
            throw ProxyConfigError("\(path).http_uri.uri", "https collectors are not supported by meshproxy (the cluster's transport socket sets TLS)")
        }
        let slash = uri.firstIndex(of: "/")
        let authority = String(slash.map { uri[..<$0] } ?? uri[...])
        let requestPath = slash.map { String(uri[$0...]) } ?? defaultPath
        guard case .cluster(let cluster)? = service.httpUri.httpUpstreamType, !cluster.isEmpty else {
            throw ProxyConfigError("\(path).http_uri.cluster", "is required")
        }
        guard !authority.isEmpty else { throw ProxyConfigError("\(path).http_uri.uri", "names no host: \(service.httpUri.uri)") }
        let timeout = service.httpUri.hasTimeout ? try positive(service.httpUri.timeout, at: "\(path).http_uri.timeout") : defaultTimeout
        let headers = try service.requestHeadersToAdd.enumerated().map { index, option -> HTTPTarget.Header in
            guard !option.header.key.isEmpty else { throw ProxyConfigError("\(path).request_headers_to_add[\(index)].header.key", "is empty") }
            return HTTPTarget.Header(name: option.header.key.lowercased(), value: option.header.value)
        }
        return HTTPTarget(cluster: cluster, authority: authority, path: requestPath, timeout: timeout, headers: headers)
    }

    private static func positive(_ duration: Google_Protobuf_Duration, at path: String) throws -> Duration {
        guard duration.seconds > 0 || (duration.seconds == 0 && duration.nanos > 0) else { throw ProxyConfigError(path, "must be positive") }
        return .seconds(duration.seconds) + .nanoseconds(Int64(duration.nanos))
    }
}

extension TracingConfig {
    /// Envoy checks a tracer's collector cluster when the listener is built and refuses the
    /// listener if it has no such cluster (a Sidecar that leaves the collector's service out of
    /// scope does this); meshproxy refuses the same listeners with Envoy's words.
    public static func checkCollectorClusters(_ listeners: [String: ListenerConfig], clusters: [String: ClusterConfig]) throws {
        for (name, listener) in listeners.sorted(by: { $0.key < $1.key }) {
            for chain in listener.filterChains + [listener.defaultFilterChain].compactMap({ $0 }) {
                guard case .http(let manager) = chain.network, let tracing = manager.tracing,
                      clusters[tracing.collectorCluster] == nil else { continue }
                throw ProxyConfigError(name, "tracing: \(tracing.tracerName): unknown cluster '\(tracing.collectorCluster)'")
            }
        }
    }
}
