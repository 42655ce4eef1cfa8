// `meshctl proxy-bootstrap`: the Envoy bootstrap that connects a stock Envoy to meshd.

import ArgumentParser
import ConfigGen
import Foundation
import MeshModel

struct ProxyBootstrapCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "proxy-bootstrap",
        abstract: "Print an Envoy bootstrap (JSON) that connects a stock Envoy to meshd over ADS.",
        discussion: """
            The node ID is Istio's: sidecar~IP~NAME.NAMESPACE~NAMESPACE.svc.cluster.local (router~... \
            for gateways). The admin interface binds the proxy's own address unless --admin-address \
            says otherwise. Run Envoy with it: envoy -c bootstrap.json --base-id N.
            """)

    @Option(name: .customLong("node-id"), help: "The proxy's node ID in Istio's format.")
    var nodeID: String

    @Option(name: .customLong("xds-address"), help: "meshd's xDS address, HOST:PORT.")
    var xdsAddress: String

    @Option(name: .customLong("admin-address"), help: "Envoy's admin address, HOST:PORT (default: the node's IP, port 15000).")
    var adminAddress: String?

    @Option(name: .customLong("interception"), help: "none (explicit binds, the embedded default) or redirect (iptables capture).")
    var interception: String = "none"

    @Option(name: .customLong("xds-protocol"), help: "GRPC (state of the world) or DELTA_GRPC.")
    var xdsProtocol: String = "GRPC"

    @Option(name: .customLong("sds-socket"), help: "The identity agent's SDS socket (meshproxy agent --sds-socket): the proxy gets certificates from it and speaks mTLS.")
    var sdsSocket: String?

    @Option(name: .customLong("label"), help: "A workload label KEY=VALUE for the node metadata (repeatable).")
    var labels: [String] = []

    @Option(name: .customLong("service-account"), help: "The workload's service account, for the node metadata.")
    var serviceAccount: String?

    func run() throws {
        let node: ProxyNodeID
        do {
            node = try ProxyNodeID(parsing: nodeID)
        } catch {
            throw ValidationError("\(error)")
        }
        let xds = try HostPort(xdsAddress, option: "--xds-address")
        var options = BootstrapOptions(node: node, xdsHost: xds.host, xdsPort: xds.port)
        if let adminAddress {
            let admin = try HostPort(adminAddress, option: "--admin-address")
            options.adminHost = admin.host
            options.adminPort = admin.port
        }
        guard let mode = BootstrapOptions.Interception(rawValue: interception.uppercased()) else {
            throw ValidationError("--interception must be none or redirect, not \"\(interception)\"")
        }
        options.interception = mode
        guard let xdsProtocol = BootstrapOptions.XDSProtocol(rawValue: xdsProtocol.uppercased()) else {
            throw ValidationError("--xds-protocol must be GRPC or DELTA_GRPC, not \"\(self.xdsProtocol)\"")
        }
        options.xdsProtocol = xdsProtocol
        options.sdsSocket = sdsSocket
        for label in labels {
            let parts = label.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, !parts[0].isEmpty else { throw ValidationError("--label must be KEY=VALUE, not \"\(label)\"") }
            options.labels[parts[0]] = parts[1]
        }
        options.serviceAccount = serviceAccount
        FileHandle.standardOutput.write(Data(try ProtoJSON.pretty(try BootstrapGenerator.bootstrap(options)).utf8))
    }
}

/// `host:port` or `[ipv6]:port` from the command line.
struct HostPort {
    var host: String
    var port: UInt32

    init(_ text: String, option: String) throws {
        guard let colon = text.lastIndex(of: ":") else { throw ValidationError("\(option) must be HOST:PORT, not \"\(text)\"") }
        var host = String(text[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty, let port = UInt32(text[text.index(after: colon)...]), (1...65535).contains(port) else {
            throw ValidationError("\(option) must be HOST:PORT with a port from 1 to 65535, not \"\(text)\"")
        }
        self.host = host
        self.port = port
    }
}
