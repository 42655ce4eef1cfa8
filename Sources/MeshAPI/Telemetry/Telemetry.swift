// Telemetry: metrics, access logging and tracing settings at mesh, namespace or workload scope.

/// `telemetry.istio.io` Telemetry spec.
public struct Telemetry: Codable, Hashable, Sendable {
    public enum WorkloadMode: String, ConfigEnum {
        case CLIENT_AND_SERVER, CLIENT, SERVER
    }

    public struct ProviderRef: Codable, Hashable, Sendable {
        public var name: String?
    }

    public struct Tracing: Codable, Hashable, Sendable {
        public struct TracingSelector: Codable, Hashable, Sendable {
            public var mode: WorkloadMode?
        }

        public struct CustomTag: Codable, Hashable, Sendable {
            public struct Literal: Codable, Hashable, Sendable {
                public var value: String?
            }

            public struct Environment: Codable, Hashable, Sendable {
                public var name: String?
                public var defaultValue: String?
            }

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

    public struct Metrics: Codable, Hashable, Sendable {
        public var providers: [ProviderRef]?
        public var overrides: [MetricsOverrides]?
        public var reportingInterval: ProtoDuration?
    }

    public struct MetricSelector: Codable, Hashable, Sendable {
        public enum IstioMetric: String, ConfigEnum {
            case ALL_METRICS, REQUEST_COUNT, REQUEST_DURATION, REQUEST_SIZE, RESPONSE_SIZE
            case TCP_OPENED_CONNECTIONS, TCP_CLOSED_CONNECTIONS, TCP_SENT_BYTES, TCP_RECEIVED_BYTES
            case GRPC_REQUEST_MESSAGES, GRPC_RESPONSE_MESSAGES
        }

        public var metric: IstioMetric?
        public var customMetric: String?
        public var mode: WorkloadMode?
    }

    public struct MetricsOverrides: Codable, Hashable, Sendable {
        public struct TagOverride: Codable, Hashable, Sendable {
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

    public struct AccessLogging: Codable, Hashable, Sendable {
        public struct LogSelector: Codable, Hashable, Sendable {
            public var mode: WorkloadMode?
        }

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
