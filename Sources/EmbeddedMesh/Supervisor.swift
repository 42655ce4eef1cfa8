// Starts the mesh's processes, remembers them by PID, and stops every one of them.

import Foundation
import Synchronization

/// The processes one mesh run started. Each writes its output to `<logs>/<name>.log`; stopping
/// sends SIGTERM to each, then SIGKILL to any still running after a grace period. Children are
/// started with posix_spawn with every signal at its default and none blocked: meshctl itself
/// ignores SIGINT/SIGTERM (it handles them), and a child inheriting that would not stop on
/// SIGTERM (Foundation's Process passes ignored signals and the blocked mask on).
public final class Supervisor: Sendable {
    public struct Child: Sendable, Codable {
        public var name: String
        public var pid: Int32
    }

    private struct Running {
        var name: String
        var pid: pid_t
        var status: Int32?
    }

    public let logDirectory: String
    private let children = Mutex<[Running]>([])

    public init(logDirectory: String) {
        self.logDirectory = logDirectory
    }

    /// Starts `argv` with `environment` added to ours; its output goes to `<name>.log`.
    @discardableResult
    public func start(_ name: String, _ argv: [String], environment: [String: String] = [:]) throws -> Int32 {
        let logPath = (logDirectory as NSString).appendingPathComponent("\(name).log")
        let log = open(logPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard log >= 0 else { throw MeshRunError("\(name): cannot open \(logPath): \(String(cString: strerror(errno)))") }
        defer { close(log) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, log, 1)
        posix_spawn_file_actions_adddup2(&actions, log, 2)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var all = sigset_t()
        sigfillset(&all)
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))
        let environmentStrings = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }.map { "\($0.key)=\($0.value)" }
        var pid: pid_t = 0
        let result = withCStrings(argv) { arguments in
            withCStrings(environmentStrings) { environment in
                posix_spawn(&pid, argv[0], &actions, &attributes, arguments, environment)
            }
        }
        guard result == 0 else {
            throw MeshRunError("\(name): cannot start \(argv[0]): \(String(cString: strerror(result)))")
        }
        children.withLock { $0.append(Running(name: name, pid: pid)) }
        return pid
    }

    /// Reaps children that have exited (without waiting).
    private func reap() {
        children.withLock { list in
            for index in list.indices where list[index].status == nil {
                var status: Int32 = 0
                if waitpid(list[index].pid, &status, WNOHANG) == list[index].pid { list[index].status = status }
            }
        }
    }

    public var running: [Child] {
        reap()
        return children.withLock { list in list.filter { $0.status == nil }.map { Child(name: $0.name, pid: $0.pid) } }
    }

    /// The name of a child that has exited, with its wait status, if any has.
    public func exited() -> (name: String, status: Int32)? {
        reap()
        return children.withLock { list in list.first { $0.status != nil }.map { ($0.name, $0.status!) } }
    }

    /// Stops every child, newest first (proxies before meshd); waits up to `grace` for all to
    /// exit before killing the rest.
    public func stopAll(grace: Duration = .seconds(3)) {
        reap()
        let list = children.withLock { list in
            defer { list.removeAll() }
            return list.filter { $0.status == nil }
        }
        for child in list.reversed() { kill(child.pid, SIGTERM) }
        let deadline = ContinuousClock.now + grace
        var remaining = Set(list.map(\.pid))
        while !remaining.isEmpty && ContinuousClock.now < deadline {
            for pid in remaining {
                var status: Int32 = 0
                if waitpid(pid, &status, WNOHANG) == pid { remaining.remove(pid) }
            }
            if !remaining.isEmpty { usleep(pollInterval) }
        }
        for pid in remaining {
            kill(pid, SIGKILL)
            var status: Int32 = 0
            waitpid(pid, &status, 0)
        }
    }
}

/// Null-terminated C string arrays for posix_spawn.
private func withCStrings<R>(_ strings: [String], _ body: (UnsafePointer<UnsafeMutablePointer<CChar>?>) -> R) -> R {
    var pointers = strings.map { strdup($0) } + [nil]
    defer { pointers.forEach { free($0) } }
    return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
}

/// waitpid and kill have no timeout, so a bounded wait for exits polls; 10 ms keeps a stop of
/// a dozen processes well under a second without spinning.
let pollInterval: useconds_t = 10_000

/// Stops processes recorded by another run (whose parent is gone or elsewhere): SIGTERM, then
/// SIGKILL to those still running after `grace`. Returns the PIDs that had to be killed.
@discardableResult
public func stopRecorded(_ pids: [Int32], grace: Duration = .seconds(3)) -> [Int32] {
    for pid in pids where isRunning(pid) { kill(pid, SIGTERM) }
    let deadline = ContinuousClock.now + grace
    while pids.contains(where: isRunning) && ContinuousClock.now < deadline { usleep(pollInterval) }
    let stubborn = pids.filter(isRunning)
    for pid in stubborn { kill(pid, SIGKILL) }
    return stubborn
}

/// Whether a process exists and has not exited: an exited process whose parent has not reaped
/// it yet (a zombie) still answers `kill(pid, 0)`, but it is not running.
func isRunning(_ pid: Int32) -> Bool {
    guard kill(pid, 0) == 0 else { return false }
    // Without /proc (not Linux) the signal test is all there is.
    guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/stat") else { return true }
    let stat = String(decoding: data, as: UTF8.self)
    guard let close = stat.lastIndex(of: ")") else { return true }
    // "pid (name) S ...": the state follows the name, which may itself hold spaces or parentheses.
    return stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces).first != "Z"
}

/// A problem running the mesh, said plainly with what to do.
public struct MeshRunError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
