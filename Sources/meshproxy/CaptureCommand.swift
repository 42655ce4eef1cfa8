// `meshproxy capture`: installs or removes the iptables rules that send a workload's traffic through its sidecar.

import ArgumentParser
import Foundation
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
            rules.excludedOutboundRanges = excludeOutboundIpRanges.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
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
                guard let port = Int(item.trimmingCharacters(in: .whitespaces)) else {
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

/// Runs an iptables tool found on PATH or in /usr/sbin and /sbin.
enum Iptables {
    static func run(_ tool: String, _ arguments: [String], input: String?) throws -> (status: Int32, output: String) {
        let path = ((ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map(String.init) + ["/usr/sbin", "/sbin"])
            .map { "\($0)/\(tool)" }
            .first { FileManager.default.isExecutableFile(atPath: $0) }
        guard let path else { throw ValidationError("\(tool) not found (Debian: apt-get install iptables)") }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        let stdin = Pipe()
        process.standardInput = stdin
        try process.run()
        if let input { stdin.fileHandleForWriting.write(Data(input.utf8)) }
        try stdin.fileHandleForWriting.close()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus, text.trimmingCharacters(in: .whitespacesAndNewlines))
    }
}
