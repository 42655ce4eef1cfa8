// One worker's access-log lines waiting to be written, by file; flushed by size or once a second.

import NIOCore
import ProxyConfig
import Telemetry

/// Lines rendered on a worker's loop into a per-file buffer (no lock, no syscall per request),
/// handed to the file's writer when 64 KiB have gathered or `flushInterval` after the first line
/// of a batch, as Envoy's file logger buffers (`--file-flush-min-size-kb`, `--file-flush-interval-msec`).
final class AccessLogBuffers {
    private struct Pending {
        let file: AccessLogFile
        var bytes: [UInt8] = []
        var lines = 0
    }

    static let flushBytes = 64 * 1024
    private let flushInterval: TimeAmount

    private let files: AccessLogFiles
    private let loop: EventLoop
    private var pending: [String: Pending] = [:]
    private var timer: Scheduled<Void>?

    init(files: AccessLogFiles, loop: EventLoop, flushInterval: TimeAmount) {
        self.files = files
        self.loop = loop
        self.flushInterval = flushInterval
    }

    /// Renders `record` into the buffer of each log whose filter takes it; returns how many did.
    func log(_ record: AccessLogRecord, to logs: [AccessLogConfig]) -> Int {
        var lines = 0
        for config in logs {
            if let filter = config.filter, !filter.matches(record) { continue }
            let path = config.path
            // One hash of the path per line: the buffer is then reached by its index.
            let index = pending.index(forKey: path) ?? {
                pending[path] = Pending(file: files.file(path))
                return pending.index(forKey: path)!
            }()
            config.format.render(record, into: &pending.values[index].bytes)
            pending.values[index].lines += 1
            lines += 1
            if pending.values[index].bytes.count >= Self.flushBytes { flush(path) }
        }
        if timer == nil, !pending.isEmpty {
            timer = loop.scheduleTask(in: flushInterval) { [self] in
                timer = nil
                flushAll()
            }
        }
        return lines
    }

    func flushAll() {
        for path in Array(pending.keys) { flush(path) }
    }

    private func flush(_ path: String) {
        guard let batch = pending.removeValue(forKey: path), !batch.bytes.isEmpty else { return }
        batch.file.write(batch.bytes, lines: batch.lines)
    }
}
