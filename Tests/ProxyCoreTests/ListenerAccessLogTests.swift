// A listener's own access_log: a connection no filter chain takes is logged at once with NR and filter_chain_not_found, the others when they close; Istio's NR filter keeps only the first kind.

import EnvoyAPI
import Foundation
import NIOCore
import NIOEmbedded
import ProxyConfig
@testable import ProxyCore
import SwiftProtobuf
import Testing

/// Takes a connection without putting any network filter on it: these tests are about what
/// the listener does before and after its chain's filters.
struct NoNetworkFilter: NetworkFilterInstaller {
    func install(_ chain: FilterChainConfig, listener: ListenerConfig, on channel: Channel, worker: Worker,
                 connection: DownstreamConnectionInfo) throws {}
}

@Suite struct ListenerAccessLogTests {
    /// ConnectionDrainTests' listener (chains for `a.example`, `b.example`) with a listener log.
    static func listener(logPath: String, onlyNoRoute: Bool) throws -> ListenerConfig {
        var proto = try ConnectionDrainTests.listenerProto(clusters: ["a", "b"], inspectsTLS: true)
        var file = Envoy_Extensions_AccessLoggers_File_V3_FileAccessLog()
        file.path = logPath
        file.logFormat.textFormatSource.inlineString = "%RESPONSE_FLAGS% %RESPONSE_CODE_DETAILS% %REQUESTED_SERVER_NAME% %DOWNSTREAM_REMOTE_ADDRESS% %CONNECTION_ID%\n"
        var log = Envoy_Config_Accesslog_V3_AccessLog()
        log.name = "envoy.access_loggers.file"
        log.typedConfig = try Google_Protobuf_Any(message: file)
        if onlyNoRoute { log.filter.responseFlagFilter.flags = ["NR"] }
        proto.accessLog = [log]
        return try ListenerConfig(proto: proto, limits: ConfigLimits())
    }

    /// Opens one connection per server name on `listener`, closes them all, and returns the
    /// log's lines without their last field, and those fields (connection IDs).
    static func run(_ listener: ListenerConfig, serverNames: [String], path: String) throws -> (lines: [String], ids: [UInt64]) {
        let loop = EmbeddedEventLoop()
        let files = AccessLogFiles()
        let worker = Worker(index: 0, loop: loop, accessLogFiles: files, accessLogFlushInterval: .hours(1))
        var channels: [EmbeddedChannel] = []
        for name in serverNames {
            let channel = EmbeddedChannel(loop: loop)
            try channel.connect(to: SocketAddress(ipAddress: "10.0.0.7", port: 40000 + channels.count)).wait()
            try ListenerSet.start(listener, hello: ClientHello(isTLS: true, serverName: name, applicationProtocols: []),
                                  on: channel, worker: worker, installer: NoNetworkFilter(), originalDestination: nil)
            channels.append(channel)
        }
        for channel in channels { _ = try? channel.close().wait() }
        loop.run()
        worker.flushAccessLogs()
        files.waitForWrites()
        let lines = ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").split(separator: "\n")
        return (lines.map { String($0[..<($0.lastIndex(of: " ") ?? $0.endIndex)]) },
                lines.compactMap { $0.split(separator: " ").last.flatMap { UInt64($0) } })
    }

    @Test func everyConnectionReachesTheListenerLogAndUnmatchedOnesSayWhy() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("listener-\(UUID().uuidString).log").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let (lines, ids) = try Self.run(try Self.listener(logPath: path, onlyNoRoute: false),
                                        serverNames: ["nobody.example", "a.example"], path: path)
        #expect(lines.sorted() == ["- - a.example 10.0.0.7:40001", "NR filter_chain_not_found nobody.example 10.0.0.7:40000"])
        #expect(ids.count == 2 && Set(ids).count == 2 && !ids.contains(0), "each connection its own %CONNECTION_ID%: \(ids)")
    }

    @Test func istiosNoRouteFilterKeepsOnlyConnectionsNoChainTook() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("listener-\(UUID().uuidString).log").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let (lines, _) = try Self.run(try Self.listener(logPath: path, onlyNoRoute: true),
                                      serverNames: ["a.example", "nobody.example", "b.example"], path: path)
        #expect(lines == ["NR filter_chain_not_found nobody.example 10.0.0.7:40001"])
    }
}
