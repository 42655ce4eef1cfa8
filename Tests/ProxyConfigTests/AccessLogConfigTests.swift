// Access-log config as meshproxy reads it: loggers, formats and filters accepted, and what it refuses with a path.

import EnvoyAPI
import NIOHTTP1
import ProxyConfig
import SwiftProtobuf
import Telemetry
import Testing

@Suite struct AccessLogConfigTests {
    /// A TCP listener whose tcp_proxy carries `logs`.
    static func listener(_ logs: [Envoy_Config_Accesslog_V3_AccessLog]) throws -> Envoy_Config_Listener_V3_Listener {
        var proxy = Envoy_Extensions_Filters_Network_TcpProxy_V3_TcpProxy()
        proxy.statPrefix = "db"
        proxy.cluster = "db"
        proxy.accessLog = logs
        var filter = Envoy_Config_Listener_V3_Filter()
        filter.name = "envoy.filters.network.tcp_proxy"
        filter.typedConfig = try Google_Protobuf_Any(message: proxy)
        var chain = Envoy_Config_Listener_V3_FilterChain()
        chain.filters = [filter]
        return .test("db", address: "127.0.0.1", port: 3306, chains: [chain])
    }

    static func file(_ configure: (inout Envoy_Extensions_AccessLoggers_File_V3_FileAccessLog) -> Void,
                     filter: Envoy_Config_Accesslog_V3_AccessLogFilter? = nil) throws -> Envoy_Config_Accesslog_V3_AccessLog {
        var file = Envoy_Extensions_AccessLoggers_File_V3_FileAccessLog()
        file.path = "/tmp/x.log"
        configure(&file)
        var log = Envoy_Config_Accesslog_V3_AccessLog()
        log.name = "envoy.access_loggers.file"
        log.typedConfig = try Google_Protobuf_Any(message: file)
        if let filter { log.filter = filter }
        return log
    }

    static func decode(_ log: Envoy_Config_Accesslog_V3_AccessLog) throws -> AccessLogConfig {
        let config = try ListenerConfig(proto: try listener([log]), limits: ConfigLimits())
        guard case .tcp(let proxy) = config.filterChains[0].network else { throw ProxyConfigError("test", "not a tcp proxy") }
        return proxy.accessLogs[0]
    }

    static func statusFilter(_ op: Envoy_Config_Accesslog_V3_ComparisonFilter.Op, _ value: UInt32) -> Envoy_Config_Accesslog_V3_AccessLogFilter {
        var comparison = Envoy_Config_Accesslog_V3_ComparisonFilter()
        comparison.op = op
        comparison.value.defaultValue = value
        comparison.value.runtimeKey = "k"
        var filter = Envoy_Config_Accesslog_V3_AccessLogFilter()
        filter.statusCodeFilter.comparison = comparison
        return filter
    }

    @Test func formatsAndFiltersAreCompiled() throws {
        let plain = try Self.decode(try Self.file { _ in })
        #expect(plain.path == "/tmp/x.log" && plain.format == .envoyDefault && plain.filter == nil)
        var either = Envoy_Config_Accesslog_V3_AccessLogFilter()
        var header = Envoy_Config_Accesslog_V3_AccessLogFilter()
        header.headerFilter.header.name = "x-debug"
        header.headerFilter.header.presentMatch = true
        either.orFilter.filters = [Self.statusFilter(.ge, 500), header]
        let custom = try Self.decode(try Self.file({
            $0.logFormat.textFormatSource.inlineString = "%RESPONSE_CODE% %UPSTREAM_HOST%\n"
        }, filter: either))
        #expect(custom.format == .text([.command(.responseCode, maxLength: nil), .literal(" "),
                                        .command(.upstreamHost, maxLength: nil), .literal("\n")], omitEmpty: false))
        var record = AccessLogRecord(startTime: 0)
        record.responseCode = 200
        #expect(custom.filter?.matches(record) == false)
        record.requestHeaders = ["x-debug": "1"]
        #expect(custom.filter?.matches(record) == true)
        record.requestHeaders = nil
        record.responseCode = 503
        #expect(custom.filter?.matches(record) == true)
    }

    @Test func refusalsNameTheField() throws {
        let base = "listeners[db].filter_chains[0].filters[0].typed_config.access_log[0]"
        var runtime = Envoy_Config_Accesslog_V3_AccessLogFilter()
        runtime.runtimeFilter.runtimeKey = "sample"
        var lonelyAnd = Envoy_Config_Accesslog_V3_AccessLogFilter()
        lonelyAnd.andFilter.filters = [Self.statusFilter(.eq, 200)]
        var badFlag = Envoy_Config_Accesslog_V3_AccessLogFilter()
        badFlag.responseFlagFilter.flags = ["UF", "ZZ"]
        var listLabel = Google_Protobuf_Struct()
        listLabel.fields["codes"] = Google_Protobuf_Value(listValue: Google_Protobuf_ListValue(values: []))
        let cases: [(Envoy_Config_Accesslog_V3_AccessLog, String, String)] = [
            (try Self.file { $0.logFormat.textFormatSource.inlineString = "%DYNAMIC_METADATA(x)%" }, ".typed_config.log_format.text_format_source.inline_string",
             "command operator %DYNAMIC_METADATA% is not supported by meshproxy"),
            (try Self.file { $0.logFormat.textFormatSource.filename = "/etc/format" }, ".typed_config.log_format.text_format_source",
             "only inline_string"),
            (try Self.file { $0.logFormat.jsonFormat = listLabel }, ".typed_config.log_format.json_format.codes", "only strings, numbers"),
            (try Self.file { $0.path = "" }, ".typed_config.path", "must not be empty"),
            (try Self.file({ _ in }, filter: runtime), ".filter", "filter runtime_filter is not supported by meshproxy"),
            (try Self.file({ _ in }, filter: lonelyAnd), ".filter.and_filter.filters", "needs at least two filters"),
            (try Self.file({ _ in }, filter: badFlag), ".filter.response_flag_filter.flags[1]", "unknown response flag \"ZZ\""),
        ]
        for (log, path, message) in cases {
            do {
                _ = try Self.decode(log)
                Issue.record("accepted: \(path)")
            } catch let error as ProxyConfigError {
                #expect(error.path == base + path, "\(error)")
                #expect(error.message.contains(message), "\(error)")
            }
        }
        var grpcLogger = Envoy_Config_Accesslog_V3_AccessLog()
        grpcLogger.name = "envoy.access_loggers.http_grpc"
        grpcLogger.typedConfig = try Google_Protobuf_Any(message: Envoy_Config_Core_V3_GrpcService())
        #expect(throws: ProxyConfigError.self) { _ = try Self.decode(grpcLogger) }
    }
}
