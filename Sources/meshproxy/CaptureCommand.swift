// `meshproxy capture`: installs or removes the iptables rules that send a workload's traffic through its sidecar.

import ArgumentParser
import Glibc
import ProxyConfig
import ProxyCore

struct CaptureCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "capture",
        abstract: "Install or remove iptables capture in this network namespace (Istio's istio-iptables, REDIRECT mode).",
        discussion: """
            Run it in the workload's network namespace (`ip netns exec NS meshproxy capture install`), \
            then start the sidecar there as the proxy user or group (`setpriv --regid 1337 --clear-groups \
            meshproxy run --interception redirect ...`), so its own connections are told apart from \
            the workload's. Needs root (CAP_NET_ADMIN) and iptables.
            """,
        subcommands: [Install.self, Remove.self])

    struct Install: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Send the namespace's TCP traffic to 15001 (outbound) and 15006 (inbound).")

        @Option(help: "The proxy's user ID, whose traffic is not captured (\"none\" to match by group only).")
        var proxyUid: String = "1337"

        @Option(help: "The proxy's group ID, whose traffic is not captured (\"none\" to match by user only).")
        var proxyGid: String = "1337"

        @Option(help: "Inbound ports to capture, comma-separated, or * for all but the excluded ones.")
        var inboundPorts: String = "*"

        @Option(help: "Inbound ports never captured (the proxy's own).")
        var excludeInboundPorts: String = CaptureRules.defaultExcludedInboundPorts.map(String.init).joined(separator: ",")

        @Option(help: "Outbound ports the workload reaches directly, comma-separated.")
        var excludeOutboundPorts: String = ""

        @Option(help: "Outbound destinations (IPv4 CIDRs, comma-separated) the workload reaches directly.")
        var excludeOutboundIpRanges: String = ""

        @Flag(help: "Print the iptables-restore script instead of applying it.")
        var dryRun = false

        func rules() throws -> CaptureRules {
            var rules = CaptureRules()
            rules.proxyUID = try Self.id(proxyUid, option: "--proxy-uid")
            rules.proxyGID = try Self.id(proxyGid, option: "--proxy-gid")
            rules.inboundPorts = inboundPorts == "*" ? nil : try Self.ports(inboundPorts, option: "--inbound-ports")
            rules.excludedInboundPorts = try Self.ports(excludeInboundPorts, option: "--exclude-inbound-ports")
            rules.excludedOutboundPorts = try Self.ports(excludeOutboundPorts, option: "--exclude-outbound-ports")
            rules.excludedOutboundRanges = excludeOutboundIpRanges.split(separator: ",").map { $0.trimmingWhitespace() }
            do {
                try rules.validate()
            } catch {
                throw ValidationError("\(error)")
            }
            return rules
        }

        static func id(_ text: String, option: String) throws -> Int? {
            if text == "none" { return nil }
            guard let id = Int(text), id >= 0 else { throw ValidationError("\(option) must be a number or none, not \"\(text)\"") }
            return id
        }

        static func ports(_ text: String, option: String) throws -> [Int] {
            try text.split(separator: ",").map { item in
                guard let port = Int(item.trimmingWhitespace()) else {
                    throw ValidationError("\(option): \"\(item)\" is not a port number")
                }
                return port
            }
        }

        func run() throws {
            let script = try rules().installScript
            if dryRun {
                print(script, terminator: "")
                return
            }
            let result = try Iptables.run("iptables-restore", ["--noflush"], input: script)
            guard result.status == 0 else {
                throw ValidationError("iptables-restore refused the capture rules (exit \(result.status)): \(result.output)")
            }
            print("capture installed: outbound TCP to \(CaptureRules.outboundPort), inbound TCP to \(CaptureRules.inboundPort)")
        }
    }

    struct Remove: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Take the capture rules out of this network namespace.")

        func run() throws {
            for arguments in CaptureRules.removeCommands {
                _ = try Iptables.run("iptables", arguments, input: nil)  // gone already is fine
            }
            print("capture removed")
        }
    }
}

/// Runs an iptables tool found on PATH or in /usr/sbin and /sbin, with posix_spawn (Foundation's
/// `Process` would bring all of Foundation into the proxy for this one command).
enum Iptables {
    static func run(_ tool: String, _ arguments: [String], input: String?) throws -> (status: Int32, output: String) {
        let searchPath: String = getenv("PATH").map { String(cString: $0) } ?? ""
        let candidates: [String] = (searchPath.split(separator: ":").map(String.init) + ["/usr/sbin", "/sbin"]).map { "\($0)/\(tool)" }
        let path = candidates.first { access($0, X_OK) == 0 }
        guard let path else { throw ValidationError("\(tool) not found (Debian: apt-get install iptables)") }
        var toChild: [Int32] = [-1, -1]
        var fromChild: [Int32] = [-1, -1]
        guard pipe(&toChild) == 0, pipe(&fromChild) == 0 else { throw ValidationError("running \(tool): pipe: errno \(errno)") }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, toChild[0], 0)
        posix_spawn_file_actions_adddup2(&actions, fromChild[1], 1)
        posix_spawn_file_actions_adddup2(&actions, fromChild[1], 2)
        for descriptor in toChild + fromChild { posix_spawn_file_actions_addclose(&actions, descriptor) }
        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, path, &actions, nil, argv, environ)
        close(toChild[0])
        close(fromChild[1])
        defer { close(fromChild[0]) }
        guard spawned == 0 else {
            close(toChild[1])
            throw ValidationError("running \(path): posix_spawn: errno \(spawned)")
        }
        // The scripts are a few kilobytes, below a pipe's buffer: writing all before reading
        // cannot block on a child that is itself blocked writing.
        var pending = Array((input ?? "").utf8)[...]
        while !pending.isEmpty {
            let written = pending.withUnsafeBytes { write(toChild[1], $0.baseAddress, $0.count) }
            if written < 0 && errno == EINTR { continue }
            guard written > 0 else { break }  // the tool closed its input; its status says why
            pending = pending.dropFirst(written)
        }
        close(toChild[1])
        var output: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(fromChild[0], $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { break }
            output += chunk[..<count]
        }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        // WEXITSTATUS, or 128 + the signal as a shell reports it.
        let exit = status & 0x7f == 0 ? (status >> 8) & 0xff : 128 + status & 0x7f
        return (exit, String(decoding: output, as: UTF8.self).trimmingWhitespace())
    }
}
