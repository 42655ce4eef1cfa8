// Access-log settings → Envoy's file access loggers with Istio's formats and native filters.

import EnvoyAPI
import MeshAPI
import MeshModel
import SwiftProtobuf

/// Builds the `access_log` entries of HTTP connection managers and TCP proxies.
enum AccessLogTranslator {
    static let fileLogger = "envoy.access_loggers.file"

    /// Istio's default text format (Istio 1.9 onwards, `EnvoyTextLogFormat`).
    static let istioTextFormat = "[%START_TIME%] \"%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%\" %RESPONSE_CODE% "
        + "%RESPONSE_FLAGS% %RESPONSE_CODE_DETAILS% %CONNECTION_TERMINATION_DETAILS% \"%UPSTREAM_TRANSPORT_FAILURE_REASON%\" "
        + "%BYTES_RECEIVED% %BYTES_SENT% %DURATION% %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% \"%REQ(X-FORWARDED-FOR)%\" "
        + "\"%REQ(USER-AGENT)%\" \"%REQ(X-REQUEST-ID)%\" \"%REQ(:AUTHORITY)%\" \"%UPSTREAM_HOST%\" %UPSTREAM_CLUSTER_RAW% "
        + "%UPSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_REMOTE_ADDRESS% %REQUESTED_SERVER_NAME% %ROUTE_NAME%\n"

    /// Istio's default JSON labels (`EnvoyJSONLogFormatIstio`).
    static let istioJSONLabels: [String: String] = [
        "start_time": "%START_TIME%", "route_name": "%ROUTE_NAME%", "method": "%REQ(:METHOD)%",
        "path": "%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%", "protocol": "%PROTOCOL%", "response_code": "%RESPONSE_CODE%",
        "response_flags": "%RESPONSE_FLAGS%", "response_code_details": "%RESPONSE_CODE_DETAILS%",
        "connection_termination_details": "%CONNECTION_TERMINATION_DETAILS%", "bytes_received": "%BYTES_RECEIVED%",
        "bytes_sent": "%BYTES_SENT%", "duration": "%DURATION%", "upstream_service_time": "%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)%",
        "x_forwarded_for": "%REQ(X-FORWARDED-FOR)%", "user_agent": "%REQ(USER-AGENT)%", "request_id": "%REQ(X-REQUEST-ID)%",
        "authority": "%REQ(:AUTHORITY)%", "upstream_host": "%UPSTREAM_HOST%", "upstream_cluster": "%UPSTREAM_CLUSTER_RAW%",
        "upstream_local_address": "%UPSTREAM_LOCAL_ADDRESS%", "downstream_local_address": "%DOWNSTREAM_LOCAL_ADDRESS%",
        "downstream_remote_address": "%DOWNSTREAM_REMOTE_ADDRESS%", "requested_server_name": "%REQUESTED_SERVER_NAME%",
        "upstream_transport_failure_reason": "%UPSTREAM_TRANSPORT_FAILURE_REASON%",
    ]

    static func accessLogs(_ settings: [AccessLogSetting]) throws -> [Envoy_Config_Accesslog_V3_AccessLog] {
        try settings.map(accessLog)
    }

    static func accessLog(_ setting: AccessLogSetting) throws -> Envoy_Config_Accesslog_V3_AccessLog {
        var file = Envoy_Extensions_AccessLoggers_File_V3_FileAccessLog()
        file.path = setting.path
        var format = Envoy_Config_Core_V3_SubstitutionFormatString()
        switch setting.format {
        case .text(let text):
            var source = Envoy_Config_Core_V3_DataSource()
            source.inlineString = text ?? istioTextFormat
            format.textFormatSource = source
        case .json(let labels):
            format.jsonFormat = labels.map(structValue) ?? Google_Protobuf_Struct(fields: istioJSONLabels.mapValues { Google_Protobuf_Value(stringValue: $0) })
        }
        format.omitEmptyValues = setting.omitEmptyValues
        file.logFormat = format
        var log = Envoy_Config_Accesslog_V3_AccessLog()
        log.name = fileLogger
        log.typedConfig = try Google_Protobuf_Any(message: file)
        if let condition = setting.filter {
            log.filter = try filter(condition, provider: setting.provider)
        }
        return log
    }

    // MARK: - Filters

    static func filter(_ condition: AccessLogCondition, provider: String) throws -> Envoy_Config_Accesslog_V3_AccessLogFilter {
        var filter = Envoy_Config_Accesslog_V3_AccessLogFilter()
        switch condition {
        case .all(let conditions):
            var all = Envoy_Config_Accesslog_V3_AndFilter()
            all.filters = try conditions.map { try self.filter($0, provider: provider) }
            filter.andFilter = all
        case .any(let conditions):
            var any = Envoy_Config_Accesslog_V3_OrFilter()
            any.filters = try conditions.map { try self.filter($0, provider: provider) }
            filter.orFilter = any
        case .responseCode(let comparison, let code):
            var status = Envoy_Config_Accesslog_V3_StatusCodeFilter()
            status.comparison = try self.comparison(comparison, code, key: "access_log.status_code", provider: provider)
            filter.statusCodeFilter = status
        case .duration(let comparison, let milliseconds):
            var duration = Envoy_Config_Accesslog_V3_DurationFilter()
            duration.comparison = try self.comparison(comparison, milliseconds, key: "access_log.duration", provider: provider)
            filter.durationFilter = duration
        case .grpcStatus(let comparison, let status):
            guard let known = Envoy_Config_Accesslog_V3_GrpcStatusFilter.Status(rawValue: status), (0...16).contains(status) else {
                throw TranslationError(resource: "access log provider \(provider)", field: "filter", reason: "gRPC status \(status) does not exist (0-16)")
            }
            var grpc = Envoy_Config_Accesslog_V3_GrpcStatusFilter()
            grpc.statuses = [known]
            grpc.exclude = comparison == .notEqual
            filter.grpcStatusFilter = grpc
        case .header(let name, let test):
            var matcher = Envoy_Config_Route_V3_HeaderMatcher()
            matcher.name = name
            switch test {
            case .present: matcher.presentMatch = true
            case .equals(let value), .notEquals(let value):
                var exact = Envoy_Type_Matcher_V3_StringMatcher()
                exact.exact = value
                matcher.stringMatch = exact
                matcher.invertMatch = test != .equals(value)
            }
            var header = Envoy_Config_Accesslog_V3_HeaderFilter()
            header.header = matcher
            filter.headerFilter = header
        }
        return filter
    }

    /// Envoy compares with `==`, `!=`, `>=` and `<=`: `>` and `<` move the bound by one.
    private static func comparison(_ comparison: AccessLogCondition.Comparison, _ bound: Int, key: String,
                                   provider: String) throws -> Envoy_Config_Accesslog_V3_ComparisonFilter {
        var filter = Envoy_Config_Accesslog_V3_ComparisonFilter()
        var value = bound
        switch comparison {
        case .equal: filter.op = .eq
        case .notEqual: filter.op = .ne
        case .atLeast: filter.op = .ge
        case .greater: filter.op = .ge; value += 1
        case .atMost: filter.op = .le
        case .less: filter.op = .le; value -= 1
        }
        guard (0...Int(UInt32.max)).contains(value) else {
            throw TranslationError(resource: "access log provider \(provider)", field: "filter",
                                   reason: "\(comparison.rawValue) \(bound) cannot be expressed (the bound must stay within 0-\(UInt32.max))")
        }
        var runtime = Envoy_Config_Core_V3_RuntimeUInt32()
        runtime.defaultValue = UInt32(value)
        // Envoy requires a runtime key; none of SwiftMesh's proxies sets one, so the default holds.
        runtime.runtimeKey = key
        filter.value = runtime
        return filter
    }

    // MARK: - JSON labels

    private static func structValue(_ labels: [String: ConfigValue]) -> Google_Protobuf_Struct {
        Google_Protobuf_Struct(fields: labels.mapValues(value))
    }

    private static func value(_ value: ConfigValue) -> Google_Protobuf_Value {
        switch value {
        case .null: Google_Protobuf_Value(nilLiteral: ())
        case .bool(let flag): Google_Protobuf_Value(boolValue: flag)
        case .number(let number): Google_Protobuf_Value(numberValue: number)
        case .string(let text): Google_Protobuf_Value(stringValue: text)
        case .list(let items): Google_Protobuf_Value(listValue: Google_Protobuf_ListValue(values: items.map(self.value)))
        case .object(let fields): Google_Protobuf_Value(structValue: structValue(fields))
        }
    }
}
