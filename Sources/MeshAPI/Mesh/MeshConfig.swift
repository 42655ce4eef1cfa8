// Istio's MeshConfig: mesh-wide settings (root namespace, trust domain, extension providers).

import Foundation

/// Istio's `MeshConfig`. Settings SwiftMesh acts on are typed; the rest of Istio's fields are
/// accepted and kept as values so an existing mesh config file loads unchanged, while a field
/// Istio does not define is an error.
public struct MeshConfig: Codable, Hashable, Sendable {
    /// Whether proxies may reach hosts outside the service registry.
    public struct OutboundTrafficPolicy: Codable, Hashable, Sendable {
        /// The mode of this setting.
        public enum Mode: String, ConfigEnum {
            case REGISTRY_ONLY, ALLOW_ANY
        }

        public var mode: Mode?
        public init(mode: Mode? = nil) { self.mode = mode }
    }

    /// Where inbound traffic is forwarded to inside a workload.
    public struct InboundTrafficPolicy: Codable, Hashable, Sendable {
        /// The mode of this setting.
        public enum Mode: String, ConfigEnum {
            case PASSTHROUGH, LOCALHOST
        }

        public var mode: Mode?
    }

    /// The format of access logs written to `accessLogFile`.
    public enum AccessLogEncoding: String, ConfigEnum {
        case TEXT, JSON
    }

    /// Whether HTTP/1.1 connections to services are upgraded to HTTP/2.
    public enum H2UpgradePolicy: String, ConfigEnum {
        case DO_NOT_UPGRADE, UPGRADE
    }

    /// Extra trusted roots for the mesh, inline or from a SPIFFE bundle endpoint.
    public struct CertificateData: Codable, Hashable, Sendable {
        public var pem: String?
        public var spiffeBundleUrl: String?
        public var certSigners: [String]?
        public var trustDomains: [String]?
    }

    /// Extension providers used when no Telemetry resource names one.
    public struct DefaultProviders: Codable, Hashable, Sendable {
        public var tracing: [String]?
        public var metrics: [String]?
        public var accessLogging: [String]?
    }

    public var rootNamespace: String?
    public var trustDomain: String?
    public var trustDomainAliases: [String]?
    public var outboundTrafficPolicy: OutboundTrafficPolicy?
    public var inboundTrafficPolicy: InboundTrafficPolicy?
    public var defaultConfig: ProxyConfig?
    public var extensionProviders: [ExtensionProvider]?
    public var defaultProviders: DefaultProviders?
    public var enableAutoMtls: Bool?
    public var enableTracing: Bool?
    public var accessLogFile: String?
    public var accessLogFormat: String?
    public var accessLogEncoding: AccessLogEncoding?
    public var connectTimeout: ProtoDuration?
    public var protocolDetectionTimeout: ProtoDuration?
    public var dnsRefreshRate: ProtoDuration?
    public var tcpKeepalive: ConnectionPoolSettings.TCPSettings.TcpKeepalive?
    public var localityLbSetting: LocalityLoadBalancerSetting?
    public var defaultServiceExportTo: [String]?
    public var defaultVirtualServiceExportTo: [String]?
    public var defaultDestinationRuleExportTo: [String]?
    public var h2UpgradePolicy: H2UpgradePolicy?
    public var enablePrometheusMerge: Bool?
    public var caCertificates: [CertificateData]?
    public var defaultHttpRetryPolicy: HTTPRetry?
    public var inboundClusterStatName: String?
    public var outboundClusterStatName: String?

    // Istio settings SwiftMesh keeps but does not act on.
    public var proxyListenPort: Int32?
    public var proxyInboundListenPort: Int32?
    public var proxyHttpPort: Int32?
    public var ingressClass: String?
    public var ingressService: String?
    public var ingressControllerMode: String?
    public var ingressSelector: String?
    public var enableEnvoyAccessLogService: Bool?
    public var disableEnvoyListenerLog: Bool?
    public var configSources: [ConfigValue]?
    public var certificates: [ConfigValue]?
    public var serviceSettings: [ConfigValue]?
    public var serviceScopeConfigs: [ConfigValue]?
    public var verifyCertificateAtClient: Bool?
    public var ca: ConfigValue?
    public var discoverySelectors: [ConfigValue]?
    public var pathNormalization: ConfigValue?
    public var meshMTLS: ConfigValue?
    public var tlsDefaults: ConfigValue?

    public init() {}

    /// The root namespace: mesh-wide policies live here. Istio's default is `istio-system`.
    public var effectiveRootNamespace: String { rootNamespace ?? "istio-system" }
    /// The SPIFFE trust domain; Istio's default is `cluster.local`.
    public var effectiveTrustDomain: String { trustDomain ?? "cluster.local" }
    /// `accessLogFormat` as JSON labels when `accessLogEncoding` is JSON: nil when the format is
    /// empty (Istio's default labels apply) or is not a JSON object (the loader reports that).
    public var accessLogJSONLabels: [String: ConfigValue]? {
        guard let format = accessLogFormat, !format.isEmpty,
              case .object(let labels)? = try? JSONDecoder().decode(ConfigValue.self, from: Data(format.utf8)) else { return nil }
        return labels
    }

    /// Istio's default outbound policy is ALLOW_ANY.
    public var effectiveOutboundMode: OutboundTrafficPolicy.Mode { outboundTrafficPolicy?.mode ?? .ALLOW_ANY }
}

/// Istio's `ProxyConfig`, used as `MeshConfig.defaultConfig`.
public struct ProxyConfig: Codable, Hashable, Sendable {
    /// How inbound traffic reaches the proxy (iptables redirect, TPROXY, or none).
    public enum InboundInterceptionMode: String, ConfigEnum {
        case REDIRECT, TPROXY, NONE
    }

    /// How proxies authenticate to the control plane.
    public enum AuthenticationPolicy: String, ConfigEnum {
        case NONE, MUTUAL_TLS, INHERIT
    }

    /// How the service name in a proxy's trace spans is formed.
    public enum TracingServiceName: String, ConfigEnum {
        case APP_LABEL_AND_NAMESPACE, CANONICAL_NAME_ONLY, CANONICAL_NAME_AND_NAMESPACE
    }

    public var configPath: String?
    public var binaryPath: String?
    public var serviceCluster: String?
    public var tracingServiceName: TracingServiceName?
    public var drainDuration: ProtoDuration?
    public var discoveryAddress: String?
    public var statsdUdpAddress: String?
    public var proxyAdminPort: Int32?
    public var controlPlaneAuthPolicy: AuthenticationPolicy?
    public var customConfigFile: String?
    public var statNameLength: Int32?
    public var concurrency: Int32?
    public var proxyBootstrapTemplatePath: String?
    public var interceptionMode: InboundInterceptionMode?
    public var proxyMetadata: [String: String]?
    public var runtimeValues: [String: String]?
    public var statusPort: Int32?
    public var extraStatTags: [String]?
    public var terminationDrainDuration: ProtoDuration?
    public var meshId: String?
    public var holdApplicationUntilProxyStarts: Bool?
    public var caCertificatesPem: [String]?

    // Istio settings SwiftMesh keeps but does not act on (some removed from newer Istio, still
    // found in older mesh configs).
    public var parentShutdownDuration: ProtoDuration?
    public var fileFlushInterval: ProtoDuration?
    public var fileFlushMinSizeKb: UInt32?
    public var discoveryRefreshDelay: ProtoDuration?
    public var zipkinAddress: String?
    public var envoyMetricsServiceAddress: String?
    public var availabilityZone: String?
    public var tracing: ConfigValue?
    public var sds: ConfigValue?
    public var envoyAccessLogService: ConfigValue?
    public var envoyMetricsService: ConfigValue?
    public var gatewayTopology: ConfigValue?
    public var readinessProbe: ConfigValue?
    public var proxyStatsMatcher: ConfigValue?
    public var image: ConfigValue?
    public var privateKeyProvider: ConfigValue?
    public var proxyHeaders: ConfigValue?

    public init() {}
}

/// A named integration (tracer, access-log sink, external authorizer) that Telemetry and
/// AuthorizationPolicy refer to by name.
public struct ExtensionProvider: Codable, Hashable, Sendable {
    /// A header sent to a provider: a literal value or one read from an environment variable.
    public struct HttpHeader: Codable, Hashable, Sendable {
        public var name: String?
        public var value: String?
        public var envName: String?
    }

    /// How much of a request body an external authorizer receives.
    public struct RequestBody: Codable, Hashable, Sendable {
        public var maxRequestBytes: UInt32?
        public var allowPartialMessage: Bool?
        public var packAsBytes: Bool?
    }

    /// An external authorizer called over HTTP (Envoy's ext_authz).
    public struct ExternalAuthorizationHTTP: Codable, Hashable, Sendable {
        public var service: String?
        public var port: UInt32?
        public var timeout: ProtoDuration?
        public var pathPrefix: String?
        public var failOpen: Bool?
        public var clearRouteCache: Bool?
        public var statusOnError: String?
        public var includeHeadersInCheck: [String]?
        public var includeRequestHeadersInCheck: [String]?
        public var includeAdditionalHeadersInCheck: [String: String]?
        public var includeRequestBodyInCheck: RequestBody?
        public var headersToUpstreamOnAllow: [String]?
        public var headersToDownstreamOnDeny: [String]?
        public var headersToDownstreamOnAllow: [String]?
    }

    /// An external authorizer called over gRPC (Envoy's ext_authz).
    public struct ExternalAuthorizationGRPC: Codable, Hashable, Sendable {
        public var service: String?
        public var port: UInt32?
        public var timeout: ProtoDuration?
        public var failOpen: Bool?
        public var clearRouteCache: Bool?
        public var statusOnError: String?
        public var includeRequestBodyInCheck: RequestBody?
    }

    /// A Zipkin trace collector.
    public struct Zipkin: Codable, Hashable, Sendable {
        /// Which trace-context headers a Zipkin tracer propagates.
        public enum TraceContextOption: String, ConfigEnum {
            case USE_B3, USE_B3_WITH_W3C_PROPAGATION
        }

        public var service: String?
        public var port: UInt32?
        public var maxTagLength: UInt32?
        public var enable64bitTraceId: Bool?
        public var path: String?
        public var traceContextOption: TraceContextOption?
        public var timeout: ProtoDuration?
        public var headers: [HttpHeader]?
    }

    /// Datadog, Lightstep and SkyWalking tracers share this shape.
    public struct ServiceTracer: Codable, Hashable, Sendable {
        public var service: String?
        public var port: UInt32?
        public var maxTagLength: UInt32?
        public var accessToken: String?
    }

    /// An OpenTelemetry collector for traces, over OTLP/gRPC or OTLP/HTTP.
    public struct OpenTelemetry: Codable, Hashable, Sendable {
        /// OTLP/HTTP export settings.
        public struct HTTPService: Codable, Hashable, Sendable {
            public var path: String?
            public var timeout: ProtoDuration?
            public var headers: [HttpHeader]?
        }

        /// OTLP/gRPC export settings.
        public struct GRPCService: Codable, Hashable, Sendable {
            public var timeout: ProtoDuration?
            public var initialMetadata: [HttpHeader]?
        }

        public var service: String?
        public var port: UInt32?
        public var maxTagLength: UInt32?
        public var http: HTTPService?
        public var grpc: GRPCService?
        public var resourceDetectors: ConfigValue?
        public var dynatraceSampler: ConfigValue?
    }

    /// Access logs written to a file, as text or JSON.
    public struct FileAccessLog: Codable, Hashable, Sendable {
        /// An access-log format: a text template or JSON labels.
        public struct LogFormat: Codable, Hashable, Sendable {
            public var text: String?
            public var labels: [String: ConfigValue]?
        }

        public var path: String?
        public var logFormat: LogFormat?
        public var omitEmptyValues: Bool?
    }

    /// gRPC access-log services (HTTP and TCP ALS, OpenTelemetry logs).
    public struct GRPCAccessLog: Codable, Hashable, Sendable {
        /// An access-log format: a text template or JSON labels.
        public struct LogFormat: Codable, Hashable, Sendable {
            public var text: String?
            public var labels: [String: ConfigValue]?
        }

        public var service: String?
        public var port: UInt32?
        public var logName: String?
        public var filterStateObjectsToLog: [String]?
        public var additionalRequestHeadersToLog: [String]?
        public var additionalResponseHeadersToLog: [String]?
        public var additionalResponseTrailersToLog: [String]?
        public var logFormat: LogFormat?
    }

    /// Istio's standard metrics in Prometheus format (no settings).
    public struct Prometheus: Codable, Hashable, Sendable {}

    /// A secret discovery service that provides workload certificates.
    public struct SDS: Codable, Hashable, Sendable {
        public var name: String?
        public var service: String?
        public var port: UInt32?
    }

    public var name: String?
    public var envoyExtAuthzHttp: ExternalAuthorizationHTTP?
    public var envoyExtAuthzGrpc: ExternalAuthorizationGRPC?
    public var zipkin: Zipkin?
    public var lightstep: ServiceTracer?
    public var datadog: ServiceTracer?
    public var skywalking: ServiceTracer?
    public var stackdriver: ConfigValue?
    public var opencensus: ConfigValue?
    public var opentelemetry: OpenTelemetry?
    public var prometheus: Prometheus?
    public var envoyFileAccessLog: FileAccessLog?
    public var envoyHttpAls: GRPCAccessLog?
    public var envoyTcpAls: GRPCAccessLog?
    public var envoyOtelAls: GRPCAccessLog?
    public var sds: SDS?

    /// The provider kinds that are set, by their YAML field names (exactly one is valid).
    public var kindsSet: [String] {
        var kinds: [String] = []
        if envoyExtAuthzHttp != nil { kinds.append("envoyExtAuthzHttp") }
        if envoyExtAuthzGrpc != nil { kinds.append("envoyExtAuthzGrpc") }
        if zipkin != nil { kinds.append("zipkin") }
        if lightstep != nil { kinds.append("lightstep") }
        if datadog != nil { kinds.append("datadog") }
        if skywalking != nil { kinds.append("skywalking") }
        if stackdriver != nil { kinds.append("stackdriver") }
        if opencensus != nil { kinds.append("opencensus") }
        if opentelemetry != nil { kinds.append("opentelemetry") }
        if prometheus != nil { kinds.append("prometheus") }
        if envoyFileAccessLog != nil { kinds.append("envoyFileAccessLog") }
        if envoyHttpAls != nil { kinds.append("envoyHttpAls") }
        if envoyTcpAls != nil { kinds.append("envoyTcpAls") }
        if envoyOtelAls != nil { kinds.append("envoyOtelAls") }
        if sds != nil { kinds.append("sds") }
        return kinds
    }
}
