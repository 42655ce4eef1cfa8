// Starts the mesh's processes, remembers them by PID, and stops every one of them.

import Foundation
import Synchronization

/// The processes one mesh run started. Each writes its output to `<logs>/<name>.log`; stopping
/// sends SIGTERM to each, then SIGKILL to any still running after a grace period. The PIDs are
/// also written to `pids` in the run directory, so another shell (`meshctl demo stop`) can stop
/// them if this process died.
public final class Supervisor: Sendable {
    public struct Child: Sendable, Codable {
        public var name: String
        public var pid: Int32
    }

    public let logDirectory: String
    private let children = Mutex<[(name: String, process: Process)]>([])

    public init(logDirectory: String) {
        self.logDirectory = logDirectory
    }

    /// Starts `argv` with `environment` added to ours; its output goes to `<name>.log`.
    @discardableResult
    public func start(_ name: String, _ argv: [String], environment: [String: String] = [:]) throws -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: argv[0])
        process.arguments = Array(argv.dropFirst())
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        let logPath = (logDirectory as NSString).appendingPathComponent("\(name).log")
        FileManager.default.createFile(atPath: logPath, contents: nil)
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        process.standardOutput = log
        process.standardError = log
        process.standardInput = FileHandle.nullDevice
        do {
            try process.run()
        } catch {
            throw MeshRunError("\(name): cannot start \(argv[0]): \(error.localizedDescription)")
        }
        children.withLock { $0.append((name, process)) }
        return process.processIdentifier
    }

    public var running: [Child] {
        children.withLock { list in list.filter { $0.process.isRunning }.map { Child(name: $0.name, pid: $0.process.processIdentifier) } }
    }

    /// The name of a child that has exited, with its status, if any has.
    public func exited() -> (name: String, status: Int32)? {
        children.withLock { list in
            list.first { !$0.process.isRunning }.map { ($0.name, $0.process.terminationStatus) }
        }
    }

    /// Stops every child, newest first (proxies before meshd); waits up to `grace` for each to
    /// exit before killing it.
    public func stopAll(grace: Duration = .seconds(3)) {
        let list = children.withLock { list in
            defer { list.removeAll() }
            return list
        }
        for (_, process) in list.reversed() where process.isRunning { kill(process.processIdentifier, SIGTERM) }
        let deadline = ContinuousClock.now + grace
        for (_, process) in list.reversed() {
            while process.isRunning && ContinuousClock.now < deadline { usleep(20_000) }
            if process.isRunning {
                kill(process.processIdentifier, SIGKILL)
                process.waitUntilExit()
            }
        }
    }
}

/// Stops processes recorded by another run: SIGTERM, then SIGKILL after `grace`.
public func stopRecorded(_ pids: [Int32], grace: Duration = .seconds(3)) {
    let alive = { (pid: Int32) in kill(pid, 0) == 0 }
    for pid in pids where alive(pid) { kill(pid, SIGTERM) }
    let deadline = ContinuousClock.now + grace
    for pid in pids {
        while alive(pid) && ContinuousClock.now < deadline { usleep(20_000) }
        if alive(pid) { kill(pid, SIGKILL) }
    }
}

/// A problem running the mesh, said plainly with what to do.
public struct MeshRunError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
