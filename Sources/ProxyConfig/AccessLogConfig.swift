// Access logs of an HTTP connection manager or TCP proxy: where lines go, their format, and which requests are logged.

import EnvoyAPI
import SwiftProtobuf
import Telemetry

/// One `access_log` entry: a file (or stdout/stderr), a compiled format, and an optional filter.
public struct AccessLogConfig: Sendable {
    public var name: String
    /// The file lines are appended to (`/dev/stdout` for the stdout logger).
    public var path: String
    public var format: AccessLogFormat
    public var filter: AccessLogFilter?

    static let fileLogger = "envoy.access_loggers.file"
    static let stdoutLogger = "envoy.access_loggers.stdout"
    static let stderrLogger = "envoy.access_loggers.stderr"

    public init(name: String = "envoy.access_loggers.file", path: String, format: AccessLogFormat, filter: AccessLogFilter? = nil) {
        self.name = name
        self.path = path
        self.format = format
        self.filter = filter
    }

    static func list(_ protos: [Envoy_Config_Accesslog_V3_AccessLog], limits: ConfigLimits, at path: String) throws -> [AccessLogConfig] {
        try protos.enumerated().map { index, proto in try AccessLogConfig(proto: proto, limits: limits, at: "\(path).access_log[\(index)]") }
    }

    init(proto: Envoy_Config_Accesslog_V3_AccessLog, limits: ConfigLimits, at path: String) throws {
        name = proto.name
        filter = proto.hasFilter ? try AccessLogFilter(proto: proto.filter, limits: limits, at: path + ".filter") : nil
        guard case .typedConfig(let any)? = proto.configType else { throw ProxyConfigError(path, "needs typed_config") }
        let configPath = path + ".typed_config"
        if any.isA(Envoy_Extensions_AccessLoggers_File_V3_FileAccessLog.self) {
            let file = try unpack(any, as: Envoy_Extensions_AccessLoggers_File_V3_FileAccessLog.self, at: configPath)
            guard !file.path.isEmpty else { throw ProxyConfigError(configPath + ".path", "must not be empty") }
            self.path = file.path
            switch file.accessLogFormat {
            case nil: format = .envoyDefault
            case .format(let text)?: format = text.isEmpty ? .envoyDefault : try Self.text(text, omitEmpty: false, at: configPath + ".format")
            case .jsonFormat(let json)?, .typedJsonFormat(let json)?: format = try Self.json(json, omitEmpty: false, at: configPath + ".json_format")
            case .logFormat(let substitution)?: format = try Self.format(substitution, at: configPath + ".log_format")
            }
            var rest = file
            rest.path = ""
            rest.accessLogFormat = nil
            try requireNothingElse(rest, at: configPath)
        } else if any.isA(Envoy_Extensions_AccessLoggers_Stream_V3_StdoutAccessLog.self) {
            let stdout = try unpack(any, as: Envoy_Extensions_AccessLoggers_Stream_V3_StdoutAccessLog.self, at: configPath)
            self.path = "/dev/stdout"
            if case .logFormat(let custom)? = stdout.accessLogFormat { format = try Self.format(custom, at: configPath + ".log_format") } else { format = .envoyDefault }
        } else if any.isA(Envoy_Extensions_AccessLoggers_Stream_V3_StderrAccessLog.self) {
            let stderr = try unpack(any, as: Envoy_Extensions_AccessLoggers_Stream_V3_StderrAccessLog.self, at: configPath)
            self.path = "/dev/stderr"
            if case .logFormat(let custom)? = stderr.accessLogFormat { format = try Self.format(custom, at: configPath + ".log_format") } else { format = .envoyDefault }
        } else {
            throw ProxyConfigError(configPath, "access logger \(any.typeURL) is not supported by meshproxy (file, stdout and stderr are)")
        }
    }

    private static func format(_ proto: Envoy_Config_Core_V3_SubstitutionFormatString, at path: String) throws -> AccessLogFormat {
        var rest = proto
        let format: AccessLogFormat
        switch proto.format {
        case .textFormat(let text)?: format = try Self.text(text, omitEmpty: proto.omitEmptyValues, at: path + ".text_format")
        case .textFormatSource(let source)?:
            guard case .inlineString(let text)? = source.specifier else {
                throw ProxyConfigError(path + ".text_format_source", "only inline_string is supported by meshproxy")
            }
            format = try Self.text(text, omitEmpty: proto.omitEmptyValues, at: path + ".text_format_source.inline_string")
        case .jsonFormat(let json)?: format = try Self.json(json, omitEmpty: proto.omitEmptyValues, at: path + ".json_format")
        case nil: throw ProxyConfigError(path, "needs text_format, text_format_source or json_format")
        }
        rest.format = nil
        rest.omitEmptyValues = false
        // Keys are written in the order of the config's map, which is sorted; sorting again changes nothing.
        rest.clearJsonFormatOptions()
        try requireNothingElse(rest, at: path)
        return format
    }

    private static func text(_ text: String, omitEmpty: Bool, at path: String) throws -> AccessLogFormat {
        do throws(FormatError) {
            return try AccessLogFormat.text(text, omitEmpty: omitEmpty)
        } catch {
            throw ProxyConfigError(path, error.description)
        }
    }

    private static func json(_ json: Google_Protobuf_Struct, omitEmpty: Bool, at path: String) throws -> AccessLogFormat {
        guard !json.fields.isEmpty else { throw ProxyConfigError(path, "must have at least one field") }
        return .json(try fields(json, at: path), omitEmpty: omitEmpty)
    }

    private static func fields(_ json: Google_Protobuf_Struct, at path: String) throws -> [AccessLogFormat.JSONField] {
        try json.fields.keys.sorted().map { key in
            let value = json.fields[key]!
            let valuePath = "\(path).\(key)"
            switch value.kind {
            case .stringValue(let text)?:
                do throws(FormatError) {
                    return .init(key: key, value: .format(try AccessLogFormat.parse(text)))
                } catch {
                    throw ProxyConfigError(valuePath, error.description)
                }
            case .structValue(let nested)?: return .init(key: key, value: .object(try fields(nested, at: valuePath)))
            case .numberValue(let number)?:
                guard number.isFinite else { throw ProxyConfigError(valuePath, "must be a finite number") }
                return .init(key: key, value: .literal(number == number.rounded() && abs(number) < 1e15 ? String(Int64(number)) : String(number)))
            case .boolValue(let flag)?: return .init(key: key, value: .literal(flag ? "true" : "false"))
            case .nullValue?: return .init(key: key, value: .literal("null"))
            case .listValue?, nil:
                throw ProxyConfigError(valuePath, "only strings, numbers, booleans and nested objects are allowed (as in Envoy)")
            }
        }
    }
}

/// Which requests an access log records (Envoy's `AccessLogFilter`), evaluated when a request ends.
public indirect enum AccessLogFilter: Sendable {
    public enum Comparison: Sendable {
        case equal, notEqual, atLeast, atMost

        func holds(_ value: Int64, _ bound: Int64) -> Bool {
            switch self {
            case .equal: value == bound
            case .notEqual: value != bound
            case .atLeast: value >= bound
            case .atMost: value <= bound
            }
        }
    }

    case statusCode(Comparison, Int64)
    /// Total duration in milliseconds.
    case duration(Comparison, Int64)
    case all([AccessLogFilter])
    case any([AccessLogFilter])
    case header(RouteMatch.HeaderMatch)
    /// Any of these flags set; an empty set means any flag at all.
    case responseFlags(ResponseFlags)
    case grpcStatus(Set<Int>, exclude: Bool)
    /// Envoy's `not_health_check_filter`: meshproxy has no health-check filter that would mark a
    /// request as a health check, so every request passes.
    case notHealthCheck

    public func matches(_ record: AccessLogRecord) -> Bool {
        switch self {
        case .statusCode(let comparison, let bound): return comparison.holds(Int64(record.responseCode), bound)
        case .duration(let comparison, let bound):
            return comparison.holds((record.duration ?? 0) / 1_000_000, bound)
        case .all(let filters): return filters.allSatisfy { $0.matches(record) }
        case .any(let filters): return filters.contains { $0.matches(record) }
        case .header(let match):
            let value: String?
            switch match.name {
            case ":path": value = record.path
            case ":method": value = record.method
            case ":authority": value = record.requestHeaders?.first(name: "host")
            default: value = record.requestHeaders?.first(name: match.name)
            }
            return match.matches(value)
        case .responseFlags(let flags): return flags.isEmpty ? !record.responseFlags.isEmpty : !record.responseFlags.isDisjoint(with: flags)
        case .grpcStatus(let statuses, let exclude):
            // Envoy reads a missing gRPC status as UNKNOWN (2) for a gRPC request.
            let status = record.grpcStatus ?? 2
            return statuses.contains(status) != exclude
        case .notHealthCheck: return true
        }
    }

    init(proto: Envoy_Config_Accesslog_V3_AccessLogFilter, limits: ConfigLimits, at path: String) throws {
        switch proto.filterSpecifier {
        case .statusCodeFilter(let filter)?:
            let (comparison, bound) = try Self.comparison(filter.comparison, at: path + ".status_code_filter.comparison")
            self = .statusCode(comparison, bound)
        case .durationFilter(let filter)?:
            let (comparison, bound) = try Self.comparison(filter.comparison, at: path + ".duration_filter.comparison")
            self = .duration(comparison, bound)
        case .andFilter(let filter)?:
            self = .all(try Self.list(filter.filters, limits: limits, at: path + ".and_filter"))
        case .orFilter(let filter)?:
            self = .any(try Self.list(filter.filters, limits: limits, at: path + ".or_filter"))
        case .headerFilter(let filter)?:
            self = .header(try RouteMatch.headerMatch(filter.header, limits: limits, at: path + ".header_filter.header"))
        case .responseFlagFilter(let filter)?:
            var flags = ResponseFlags()
            for (index, code) in filter.flags.enumerated() {
                guard let flag = ResponseFlags(code: code) else {
                    throw ProxyConfigError("\(path).response_flag_filter.flags[\(index)]", "unknown response flag \"\(code)\"")
                }
                flags.insert(flag)
            }
            self = .responseFlags(flags)
        case .grpcStatusFilter(let filter)?:
            self = .grpcStatus(Set(filter.statuses.map(\.rawValue)), exclude: filter.exclude)
        case .notHealthCheckFilter?:
            self = .notHealthCheck
        case .traceableFilter?, .runtimeFilter?, .extensionFilter?, .metadataFilter?, .logTypeFilter?:
            throw ProxyConfigError(path, "filter \(Self.name(of: proto)) is not supported by meshproxy")
        case nil:
            throw ProxyConfigError(path, "needs a filter")
        }
    }

    private static func name(of proto: Envoy_Config_Accesslog_V3_AccessLogFilter) -> String {
        switch proto.filterSpecifier {
        case .traceableFilter?: "traceable_filter"
        case .runtimeFilter?: "runtime_filter"
        case .extensionFilter?: "extension_filter"
        case .metadataFilter?: "metadata_filter"
        case .logTypeFilter?: "log_type_filter"
        default: "?"
        }
    }

    private static func list(_ filters: [Envoy_Config_Accesslog_V3_AccessLogFilter], limits: ConfigLimits, at path: String) throws -> [AccessLogFilter] {
        guard filters.count >= 2 else { throw ProxyConfigError(path + ".filters", "needs at least two filters (as in Envoy)") }
        return try filters.enumerated().map { index, filter in try AccessLogFilter(proto: filter, limits: limits, at: "\(path).filters[\(index)]") }
    }

    /// The comparison and its bound. The bound's `runtime_key` names a runtime override; meshproxy
    /// has no runtime layer, so the default value always applies (as on an Envoy whose runtime
    /// does not set the key).
    private static func comparison(_ proto: Envoy_Config_Accesslog_V3_ComparisonFilter, at path: String) throws -> (Comparison, Int64) {
        let comparison: Comparison
        switch proto.op {
        case .eq: comparison = .equal
        case .ne: comparison = .notEqual
        case .ge: comparison = .atLeast
        case .le: comparison = .atMost
        case .UNRECOGNIZED(let value): throw ProxyConfigError(path + ".op", "unknown value \(value)")
        }
        guard proto.hasValue else { throw ProxyConfigError(path + ".value", "is required") }
        return (comparison, Int64(proto.value.defaultValue))
    }
}
