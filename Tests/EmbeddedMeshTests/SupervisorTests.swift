// The supervisor against real processes: exits are noticed, SIGTERM is honoured, a process that
// ignores it is killed after the grace period, and children never inherit meshctl's signal setup.

import Foundation
import Testing
@testable import EmbeddedMesh

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
        usleep(200_000)  // let the shell install its trap
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
        usleep(100_000)
        let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
        let field = { (name: String) in
            UInt64(status.split(separator: "\n").first { $0.hasPrefix(name + ":") }!.split(separator: "\t").last!, radix: 16)!
        }
        #expect(field("SigIgn") & (1 << (UInt64(SIGTERM) - 1)) == 0, "SIGTERM is not ignored in the child")
        #expect(field("SigBlk") == 0, "no signal is blocked in the child")
    }

    @Test func recordedProcessesOfAnotherRunAreStoppedAndZombiesCountAsGone() throws {
        // A process that is not our child (its shell parent exits at once): as after meshctl died.
        // The PID goes through a file: a pipe would stay open in the background sleep.
        let logs = try Logs()
        let pidFile = logs.path + "/pid"
        let launcher = Supervisor(logDirectory: logs.path)
        try launcher.start("shell", ["/bin/sh", "-c", "sleep 30 </dev/null >/dev/null 2>&1 & echo $! > \(pidFile).tmp && mv \(pidFile).tmp \(pidFile)"])
        let deadline = ContinuousClock.now + .seconds(5)
        while !FileManager.default.fileExists(atPath: pidFile) && ContinuousClock.now < deadline { usleep(10_000) }
        let pid = try #require(Int32(try String(contentsOfFile: pidFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)))
        #expect(isRunning(pid))
        let killed = stopRecorded([pid], grace: .seconds(2))
        #expect(killed.isEmpty, "sleep honours SIGTERM")
        #expect(!isRunning(pid))
    }
}
