// Telemetry: metrics, access logging and tracing settings at mesh, namespace or workload scope.

/// `telemetry.istio.io` Telemetry spec.
public struct Telemetry: Codable, Hashable, Sendable {
    /// Whether a setting applies when the workload is the client, the server, or both.
    public enum WorkloadMode: String, ConfigEnum {
        case CLIENT_AND_SERVER, CLIENT, SERVER
    }

    /// A MeshConfig extension provider, by name.
    public struct ProviderRef: Codable, Hashable, Sendable {
        public var name: String?
    }

    /// Tracing settings: provider, sampling percentage, custom span tags.
    public struct Tracing: Codable, Hashable, Sendable {
        /// Which side of a request the tracing settings apply to.
        public struct TracingSelector: Codable, Hashable, Sendable {
            public var mode: WorkloadMode?
        }

        /// A span tag: a literal, an environment variable or a request header.
        public struct CustomTag: Codable, Hashable, Sendable {
            /// A fixed tag value.
            public struct Literal: Codable, Hashable, Sendable {
                public var value: String?
            }

            /// A tag value read from the proxy's environment.
            public struct Environment: Codable, Hashable, Sendable {
                public var name: String?
                public var defaultValue: String?
            }

            /// A tag value read from a request header.
            public struct RequestHeader: Codable, Hashable, Sendable {
                public var name: String?
                public var defaultValue: String?
            }

            public var literal: Literal?
            public var environment: Environment?
            public var header: RequestHeader?
        }

        public var match: TracingSelector?
        public var providers: [ProviderRef]?
        public var randomSamplingPercentage: Double?
        public var disableSpanReporting: Bool?
        public var customTags: [String: CustomTag]?
        public var useRequestIdForTraceSampling: Bool?
        public var enableIstioTags: Bool?
    }

    /// Metrics settings: providers, overrides, reporting interval.
    public struct Metrics: Codable, Hashable, Sendable {
        public var providers: [ProviderRef]?
        public var overrides: [MetricsOverrides]?
        public var reportingInterval: ProtoDuration?
    }

    /// Which metric (standard or custom) an override applies to.
    public struct MetricSelector: Codable, Hashable, Sendable {
        /// Istio's standard metrics.
        public enum IstioMetric: String, ConfigEnum {
            case ALL_METRICS, REQUEST_COUNT, REQUEST_DURATION, REQUEST_SIZE, RESPONSE_SIZE
            case TCP_OPENED_CONNECTIONS, TCP_CLOSED_CONNECTIONS, TCP_SENT_BYTES, TCP_RECEIVED_BYTES
            case GRPC_REQUEST_MESSAGES, GRPC_RESPONSE_MESSAGES
        }

        public var metric: IstioMetric?
        public var customMetric: String?
        public var mode: WorkloadMode?
    }

    /// Disable a metric or change its tags.
    public struct MetricsOverrides: Codable, Hashable, Sendable {
        /// Add, change or remove one tag of a metric.
        public struct TagOverride: Codable, Hashable, Sendable {
            /// Whether a tag is set (UPSERT) or removed.
            public enum Operation: String, ConfigEnum {
                case UPSERT, REMOVE
            }

            public var operation: Operation?
            public var value: String?
        }

        public var match: MetricSelector?
        public var disabled: Bool?
        public var tagOverrides: [String: TagOverride]?
    }

    /// Access-log settings: providers, on/off, a filter.
    public struct AccessLogging: Codable, Hashable, Sendable {
        /// Which side of a request the access-log settings apply to.
        public struct LogSelector: Codable, Hashable, Sendable {
            public var mode: WorkloadMode?
        }

        /// Log only requests for which the expression is true (e.g. `response.code >= 400`).
        public struct Filter: Codable, Hashable, Sendable {
            public var expression: String?
        }

        public var match: LogSelector?
        public var providers: [ProviderRef]?
        public var disabled: Bool?
        public var filter: Filter?
    }

    public var selector: LabelSelector?
    public var targetRef: PolicyTargetReference?
    public var targetRefs: [PolicyTargetReference]?
    public var tracing: [Tracing]?
    public var metrics: [Metrics]?
    public var accessLogging: [AccessLogging]?
}
