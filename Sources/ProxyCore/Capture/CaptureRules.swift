// The iptables rules that send a workload's TCP traffic through its sidecar (Istio's REDIRECT mode).

/// What `istio-iptables` installs in a pod's network namespace, as an `iptables-restore` script
/// for the nat table: connections the workload opens go to the sidecar's virtualOutbound
/// listener (15001), connections that arrive go to virtualInbound (15006). The sidecar's own
/// traffic is recognised by its user or group and left alone, so it can reach the real
/// destination; 127.0.0.6 is where the sidecar connects from when it passes a connection
/// through to the local application, and is left alone too. Same chain names and rule order
/// as Istio, so operators' tooling and habits carry over.
public struct CaptureRules: Equatable, Sendable {
    public static let outboundPort = 15001
    public static let inboundPort = 15006
    /// The proxy's own ports, never captured inbound: admin, merged metrics, health, Prometheus.
    public static let defaultExcludedInboundPorts = [15000, 15020, 15021, 15090]

    /// The user and group the sidecar runs as (Istio: 1337 for both).
    public var proxyUID: Int? = 1337
    public var proxyGID: Int? = 1337
    /// Inbound ports to capture; nil captures every port but the excluded ones (Istio's `*`).
    public var inboundPorts: [Int]? = nil
    public var excludedInboundPorts: [Int] = CaptureRules.defaultExcludedInboundPorts
    public var excludedOutboundPorts: [Int] = []
    /// Destinations (CIDR) the workload reaches without its sidecar.
    public var excludedOutboundRanges: [String] = []

    public init() {}

    public static let chains = ["ISTIO_INBOUND", "ISTIO_IN_REDIRECT", "ISTIO_OUTPUT", "ISTIO_REDIRECT"]

    /// The rules, for `iptables-restore --noflush` (built-in chains keep their other rules).
    public var installScript: String {
        var lines = ["*nat"] + Self.chains.map { ":\($0) - [0:0]" }
        lines.append("-A PREROUTING -p tcp -j ISTIO_INBOUND")
        lines.append("-A OUTPUT -p tcp -j ISTIO_OUTPUT")
        // Inbound: to 15006, except the proxy's own ports (or only the listed ones).
        if let inboundPorts {
            for port in inboundPorts.sorted() { lines.append("-A ISTIO_INBOUND -p tcp -m tcp --dport \(port) -j ISTIO_IN_REDIRECT") }
        } else {
            for port in excludedInboundPorts.sorted() { lines.append("-A ISTIO_INBOUND -p tcp -m tcp --dport \(port) -j RETURN") }
            lines.append("-A ISTIO_INBOUND -p tcp -j ISTIO_IN_REDIRECT")
        }
        lines.append("-A ISTIO_IN_REDIRECT -p tcp -j REDIRECT --to-ports \(Self.inboundPort)")
        // Outbound. The sidecar passing a connection to the local app (from 127.0.0.6): leave it.
        lines.append("-A ISTIO_OUTPUT -s 127.0.0.6/32 -o lo -j RETURN")
        for (option, id) in [("--uid-owner", proxyUID), ("--gid-owner", proxyGID)] {
            guard let id else { continue }
            // The sidecar calling its own pod's address over loopback (a workload calling
            // itself through its service): back through the inbound side, as if it came in.
            lines.append("-A ISTIO_OUTPUT ! -d 127.0.0.1/32 -o lo -m owner \(option) \(id) -j ISTIO_IN_REDIRECT")
            // The application talking to itself over loopback: not captured.
            lines.append("-A ISTIO_OUTPUT -o lo -m owner ! \(option) \(id) -j RETURN")
            // The sidecar's own connections go where they are addressed.
            lines.append("-A ISTIO_OUTPUT -m owner \(option) \(id) -j RETURN")
        }
        lines.append("-A ISTIO_OUTPUT -d 127.0.0.1/32 -j RETURN")
        for port in excludedOutboundPorts.sorted() { lines.append("-A ISTIO_OUTPUT -p tcp -m tcp --dport \(port) -j RETURN") }
        for range in excludedOutboundRanges { lines.append("-A ISTIO_OUTPUT -d \(range) -j RETURN") }
        lines.append("-A ISTIO_OUTPUT -j ISTIO_REDIRECT")
        lines.append("-A ISTIO_REDIRECT -p tcp -j REDIRECT --to-ports \(Self.outboundPort)")
        lines.append("COMMIT")
        return lines.joined(separator: "\n") + "\n"
    }

    /// `iptables` argument lists that take the rules out again, in order. Each may fail when
    /// its rule or chain is already gone; removal goes on regardless.
    public static var removeCommands: [[String]] {
        var commands = [["-t", "nat", "-D", "PREROUTING", "-p", "tcp", "-j", "ISTIO_INBOUND"],
                        ["-t", "nat", "-D", "OUTPUT", "-p", "tcp", "-j", "ISTIO_OUTPUT"]]
        commands += chains.map { ["-t", "nat", "-F", $0] }
        commands += chains.map { ["-t", "nat", "-X", $0] }
        return commands
    }

    /// Checks what a user could get wrong: ports in range, ranges shaped like CIDRs, an owner.
    public func validate() throws(CaptureRulesError) {
        guard proxyUID != nil || proxyGID != nil else {
            throw CaptureRulesError("the proxy needs a user or a group to be told apart from the workload (else its own traffic loops)")
        }
        for (name, ports) in [("inbound port", inboundPorts ?? []), ("excluded inbound port", excludedInboundPorts),
                              ("excluded outbound port", excludedOutboundPorts)] {
            if let bad = ports.first(where: { !(1...65535).contains($0) }) { throw CaptureRulesError("\(name) \(bad) is not in 1-65535") }
        }
        for range in excludedOutboundRanges where !Self.isCIDR(range) {
            throw CaptureRulesError("excluded outbound range \"\(range)\" is not an IPv4 CIDR like 10.0.0.0/8")
        }
    }

    static func isCIDR(_ text: String) -> Bool {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count <= 2 else { return false }
        let octets = parts[0].split(separator: ".", omittingEmptySubsequences: false)
        guard octets.count == 4, octets.allSatisfy({ UInt8($0) != nil }) else { return false }
        if parts.count == 2 { return Int(parts[1]).map { (0...32).contains($0) } ?? false }
        return true
    }
}

public struct CaptureRulesError: Error, CustomStringConvertible, Equatable {
    public let description: String
    init(_ description: String) { self.description = description }
}
