// The files access logs are appended to: one descriptor per path for the whole proxy, written off the event loops.

import Dispatch
#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// Every access-log file the proxy writes, opened on first use and kept open (Envoy keeps its
/// log files open too; `/dev/stdout` is the common one). Workers hand whole buffers to a file's
/// serial queue, so a slow disk or a full pipe never blocks an event loop; if more than
/// `maxPendingBytes` wait, further lines are dropped and counted rather than buffered without bound.
public final class AccessLogFiles: Sendable {
    private let files = Mutex<[String: AccessLogFile]>([:])
    private let log: @Sendable (String) -> Void
    static let maxPendingBytes = 16 << 20

    public init(log: @escaping @Sendable (String) -> Void = { _ in }) {
        self.log = log
    }

    /// The file at `path`, opened (append, create) the first time it is asked for.
    func file(_ path: String) -> AccessLogFile {
        files.withLock { files in
            if let known = files[path] { return known }
            let file = AccessLogFile(path: path, log: log)
            files[path] = file
            return file
        }
    }

    /// Waits until every buffer handed over so far is written (shutdown, tests).
    public func waitForWrites() {
        for file in files.withLock({ Array($0.values) }) { file.queue.sync {} }
    }

    /// Lines dropped because a file's writes fell too far behind, and writes that failed, by path.
    public func problems() -> [String: (dropped: Int, failed: Int)] {
        files.withLock { files in
            files.mapValues { ($0.droppedLines.load(ordering: .relaxed), $0.failedWrites.load(ordering: .relaxed)) }
        }
    }
}

/// One open access-log file and the queue that writes to it.
final class AccessLogFile: Sendable {
    let path: String
    let queue: DispatchQueue
    private let descriptor: Int32
    private let pendingBytes = Atomic<Int>(0)
    let droppedLines = Atomic<Int>(0)
    let failedWrites = Atomic<Int>(0)
    private let log: @Sendable (String) -> Void

    init(path: String, log: @escaping @Sendable (String) -> Void) {
        self.path = path
        self.log = log
        queue = DispatchQueue(label: "meshproxy.access-log")
        descriptor = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
        if descriptor < 0 { log("access log \(path): cannot open: \(String(cString: strerror(errno))); its lines are dropped") }
    }

    /// Queues `bytes` (`lines` whole lines) for writing.
    func write(_ bytes: [UInt8], lines: Int) {
        guard descriptor >= 0 else {
            droppedLines.wrappingAdd(lines, ordering: .relaxed)
            return
        }
        let pending = pendingBytes.wrappingAdd(bytes.count, ordering: .relaxed).newValue
        guard pending <= AccessLogFiles.maxPendingBytes else {
            pendingBytes.wrappingSubtract(bytes.count, ordering: .relaxed)
            droppedLines.wrappingAdd(lines, ordering: .relaxed)
            return
        }
        queue.async { [self] in
            defer { pendingBytes.wrappingSubtract(bytes.count, ordering: .relaxed) }
            var offset = 0
            while offset < bytes.count {
                let written = bytes.withUnsafeBytes { raw in Glibc.write(descriptor, raw.baseAddress! + offset, bytes.count - offset) }
                if written < 0 {
                    if errno == EINTR { continue }
                    if failedWrites.wrappingAdd(1, ordering: .relaxed).oldValue == 0 {
                        log("access log \(path): write failed: \(String(cString: strerror(errno)))")
                    }
                    return
                }
                offset += written
            }
        }
    }

    deinit {
        if descriptor >= 0 { close(descriptor) }
    }
}
