// The supervisor against real processes: exits are noticed, SIGTERM is honoured, a process that
// ignores it is killed after the grace period, and children never inherit meshctl's signal setup.

import Foundation
import Testing
@testable import EmbeddedMesh

/// Signals a process ignores and blocks, from /proc (the masks are hexadecimal bit sets).
func signalMasks(_ pid: Int32) -> (ignored: UInt64, blocked: UInt64)? {
    guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/status") else { return nil }
    let lines = String(decoding: data, as: UTF8.self).split(separator: "\n")
    func field(_ name: String) -> UInt64? {
        lines.first { $0.hasPrefix(name + ":") }.flatMap { UInt64($0.split(separator: "\t").last ?? "", radix: 16) }
    }
    guard let ignored = field("SigIgn"), let blocked = field("SigBlk") else { return nil }
    return (ignored, blocked)
}

/// The program a process runs now (after exec).
func program(_ pid: Int32) -> String? {
    FileManager.default.contents(atPath: "/proc/\(pid)/cmdline").map { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
}

/// Waits until `condition` holds, for at most 5 s.
func waitUntil(_ condition: () -> Bool) {
    let deadline = ContinuousClock.now + .seconds(5)
    while !condition() && ContinuousClock.now < deadline { usleep(5_000) }
}

let terminationBit: UInt64 = 1 << (UInt64(SIGTERM) - 1)

@Suite(.serialized) struct SupervisorTests {
    final class Logs {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("supervisor-\(UUID().uuidString)").path
        init() throws { try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) }
        deinit { try? FileManager.default.removeItem(atPath: path) }
    }

    @Test func aChildThatExitsIsReportedWithItsStatus() async throws {
        let logs = try Logs()
        let supervisor = Supervisor(logDirectory: logs.path)
        try supervisor.start("fails", ["/bin/sh", "-c", "echo starting; exit 3"])
        let deadline = ContinuousClock.now + .seconds(5)
        while supervisor.exited() == nil && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
        let exited = try #require(supervisor.exited())
        #expect(exited.name == "fails")
        #expect(exited.status >> 8 == 3 && exited.status & 0x7f == 0)
        #expect(try String(contentsOfFile: logs.path + "/fails.log", encoding: .utf8) == "starting\n", "output goes to the log")
    }

    @Test func stopHonoursSigtermAndKillsWhatIgnoresIt() throws {
        let logs = try Logs()
        let supervisor = Supervisor(logDirectory: logs.path)
        let polite = try supervisor.start("polite", ["/bin/sleep", "30"])
        let stubborn = try supervisor.start("stubborn", ["/bin/sh", "-c", "trap '' TERM; while true; do sleep 0.05; done"])
        waitUntil { (signalMasks(stubborn)?.ignored ?? 0) & terminationBit != 0 }  // the shell's trap is in place
        let started = ContinuousClock.now
        supervisor.stopAll(grace: .milliseconds(500))
        let took = ContinuousClock.now - started
        #expect(kill(polite, 0) != 0 && kill(stubborn, 0) != 0, "both are gone (and reaped)")
        #expect(took >= .milliseconds(500), "the stubborn one got its grace period")
        #expect(took < .seconds(3))
        #expect(supervisor.running.isEmpty)
    }

    @Test func childrenStartWithDefaultSignalsEvenWhenMeshctlIgnoresThem() throws {
        let logs = try Logs()
        let supervisor = Supervisor(logDirectory: logs.path)
        // meshctl ignores SIGTERM and SIGINT to handle them itself; a child must not inherit that.
        let previous = signal(SIGTERM, SIG_IGN)
        defer { signal(SIGTERM, previous) }
        let pid = try supervisor.start("sleeper", ["/bin/sleep", "30"])
        defer { supervisor.stopAll(grace: .milliseconds(100)) }
        waitUntil { program(pid) == "/bin/sleep" }  // exec has happened: the masks are the child's own
        let masks = try #require(signalMasks(pid))
        #expect(masks.ignored & terminationBit == 0, "SIGTERM is not ignored in the child")
        #expect(masks.blocked == 0, "no signal is blocked in the child")
    }

    @Test func recordedProcessesOfAnotherRunAreStoppedAndZombiesCountAsGone() throws {
        // A process that is not our child (its shell parent exits at once): as after meshctl died.
        // The PID goes through a file: a pipe would stay open in the background sleep.
        let logs = try Logs()
        let pidFile = logs.path + "/pid"
        let launcher = Supervisor(logDirectory: logs.path)
        try launcher.start("shell", ["/bin/sh", "-c", "sleep 30 </dev/null >/dev/null 2>&1 & echo $! > \(pidFile).tmp && mv \(pidFile).tmp \(pidFile)"])
        waitUntil { FileManager.default.fileExists(atPath: pidFile) }
        let pid = try #require(Int32(try String(contentsOfFile: pidFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)))
        #expect(isRunning(pid))
        let killed = stopRecorded([pid], grace: .seconds(2))
        #expect(killed.isEmpty, "sleep honours SIGTERM")
        #expect(!isRunning(pid))
    }
}
