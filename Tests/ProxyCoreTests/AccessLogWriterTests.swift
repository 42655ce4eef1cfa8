// A worker's access-log buffers: lines reach the file after the flush interval or on flush, filters apply, unopenable files count drops.

import Foundation
import NIOCore
import NIOPosix
import ProxyConfig
@testable import ProxyCore
import Telemetry
import Testing

@Suite struct AccessLogWriterTests {
    static func config(path: String, filter: AccessLogFilter? = nil) throws -> AccessLogConfig {
        try AccessLogConfig(path: path, format: .text("%RESPONSE_CODE% %REQ(X-REQUEST-ID)%\n"), filter: filter)
    }

    static func record(_ code: Int, _ id: String) -> AccessLogRecord {
        var record = AccessLogRecord(startTime: 0)
        record.responseCode = code
        record.requestHeaders = ["x-request-id": id]
        return record
    }

    /// A worker writing to a fresh file under the temporary directory (the caller removes it).
    static func worker(flushInterval: TimeAmount) -> (path: String, files: AccessLogFiles, worker: Worker) {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("access-\(UUID().uuidString).log").path
        let files = AccessLogFiles()
        let worker = Worker(index: 0, loop: MultiThreadedEventLoopGroup.singleton.next(), accessLogFiles: files,
                            accessLogFlushInterval: flushInterval)
        return (path, files, worker)
    }

    @Test func linesWaitForAFlushAndFiltersApply() async throws {
        // An interval longer than the test: only the explicit flush writes.
        let (path, files, worker) = Self.worker(flushInterval: .hours(1))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let logs = [try Self.config(path: path, filter: .statusCode(.atLeast, 400))]
        try await worker.loop.submit {
            worker.log(Self.record(200, "a"), to: logs)
            worker.log(Self.record(503, "b"), to: logs)
        }.get()
        files.waitForWrites()
        #expect((try? String(contentsOfFile: path, encoding: .utf8)) ?? "" == "", "buffered, not yet written")
        try await worker.loop.submit { worker.flushAccessLogs() }.get()
        files.waitForWrites()
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "503 b\n")
        #expect(try await worker.loop.submit { worker.stats.accessLogLines }.get() == 1)
    }

    @Test func theIntervalWritesWithoutAFlush() async throws {
        let (path, files, worker) = Self.worker(flushInterval: .milliseconds(50))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let logs = [try Self.config(path: path)]
        try await worker.loop.submit { worker.log(Self.record(404, "c"), to: logs) }.get()
        var text = ""
        for _ in 0..<100 where text.isEmpty {
            try await Task.sleep(for: .milliseconds(50))
            files.waitForWrites()
            text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
        }
        #expect(text == "404 c\n")
    }

    @Test func aFileThatCannotBeOpenedCountsItsDroppedLines() async throws {
        let messages = LockedMessages()
        let files = AccessLogFiles(log: { messages.append($0) })
        let worker = Worker(index: 0, loop: MultiThreadedEventLoopGroup.singleton.next(), accessLogFiles: files)
        let path = "/nonexistent-\(UUID().uuidString)/access.log"
        let logs = [try Self.config(path: path)]
        try await worker.loop.submit {
            worker.log(Self.record(200, "a"), to: logs)
            worker.log(Self.record(200, "b"), to: logs)
            worker.flushAccessLogs()
        }.get()
        files.waitForWrites()
        #expect(files.problems()[path]?.dropped == 2)
        #expect(messages.all.contains { $0.contains("cannot open") && $0.contains(path) })
    }
}

final class LockedMessages: @unchecked Sendable {
    private let lock = NSLock()
    private var messages: [String] = []
    func append(_ message: String) { lock.withLock { messages.append(message) } }
    var all: [String] { lock.withLock { messages } }
}
