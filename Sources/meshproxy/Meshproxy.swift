// meshproxy: SwiftMesh's data plane. `meshproxy run` is the proxy; `meshproxy agent` gives a stock Envoy its identity.

import ArgumentParser
import EnvoyAPI
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Glibc
import IdentityAgent
import ProxyConfig
import ProxyCore
import ProxyServer
import SwiftProtobuf
import Telemetry

@main
struct Meshproxy: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "meshproxy",
        abstract: "SwiftMesh's proxy, driven by xDS. `meshproxy agent` gives a colocated Envoy its workload identity over SDS.",
        subcommands: [RunCommand.self, AgentCommand.self, CaptureCommand.self],
        defaultSubcommand: RunCommand.self)
}

struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run the proxy: listeners, routes and clusters from meshd over ADS (delta or state of the world).",
        discussion: """
            Either --bootstrap FILE (the JSON `meshctl proxy-bootstrap` prints, as for Envoy) or \
            --xds-address and --node-id. --config-json merges a JSON bootstrap fragment on top, as \
            Envoy's --config-yaml does (the runtime's re2.max_program_size.error_level, say).
            """)

    @Option(help: "An Envoy bootstrap in JSON.")
    var bootstrap: String?

    @Option(name: [.customLong("config-json"), .customLong("config-yaml")], help: "A JSON bootstrap fragment merged on top.")
    var configJSON: String?

    @Option(help: "meshd's xDS address, HOST:PORT (without --bootstrap).")
    var xdsAddress: String?

    @Option(help: "ADS flavour without --bootstrap: DELTA_GRPC (delta xDS) or GRPC (state of the world).")
    var xdsProtocol: ProxyBootstrap.XDSProtocol = .delta

    @Option(help: "The node ID, Istio style: sidecar~IP~NAME.NAMESPACE~NAMESPACE.svc.cluster.local (without --bootstrap).")
    var nodeId: String?

    @Option(help: "The admin address, HOST:PORT (without --bootstrap; never a wildcard in the embedded mode).")
    var adminAddress: String?

    @Option(help: "Worker event loops (default: the number of cores).")
    var concurrency: Int = ProcessInfo.processInfo.activeProcessorCount

    @Option(name: .customLong("drain-time-s"),
            help: "Seconds a connection drained by a listener change may take to finish before it is closed (Envoy's flag; Istio uses 45).")
    var drainTimeSeconds: Int = 45

    @Option(name: .customLong("file-flush-interval-msec"),
            help: "Milliseconds access-log lines may wait in a worker's buffer before they are written (Envoy's flag; its default is 10000).")
    var fileFlushIntervalMilliseconds: Int = 1000

    @Option(help: "Without --bootstrap: none (listeners bind the workload's address; the embedded default) or redirect (iptables capture sends traffic to 15001/15006, set up with `meshproxy capture install`).")
    var interception: Interception = .none

    enum Interception: String, ExpressibleByArgument {
        case none, redirect
    }

    @Option(name: .customLong("app-metrics"),
            help: "Where the app serves its Prometheus metrics, HOST:PORT[/PATH] (default path /metrics): merged with the proxy's on <admin host>:15020/stats/prometheus, as Istio's agent merges them.")
    var appMetrics: String?

    @OptionGroup(title: "Identity (the embedded agent; --ca-address, --ca-root and --token-file turn it on; without them a bootstrap's sds-grpc cluster is used over SDS)")
    var identity: IdentityOptions

    func validate() throws {
        guard drainTimeSeconds >= 0 else { throw ValidationError("--drain-time-s must not be negative") }
        guard fileFlushIntervalMilliseconds > 0 else { throw ValidationError("--file-flush-interval-msec must be positive") }
    }

    func run() async throws {
        let log: @Sendable (String) -> Void = { StandardError.write("meshproxy: \($0)\n") }
        let json: String
        if let bootstrap {
            guard let data = FileManager.default.contents(atPath: bootstrap) else { throw ValidationError("--bootstrap \(bootstrap): cannot read it") }
            json = String(decoding: data, as: UTF8.self)
        } else {
            guard let xdsAddress, let nodeId, let (host, port) = Self.split(xdsAddress) else {
                throw ValidationError("give --bootstrap FILE, or --xds-address HOST:PORT and --node-id ID")
            }
            var proto = Envoy_Config_Bootstrap_V3_Bootstrap()
            proto.node.id = nodeId
            // Istio's node ID: the third field is NAME.NAMESPACE, which is also the cluster (the
            // service name of trace spans) when no bootstrap names the workload's app.
            proto.node.cluster = nodeId.split(separator: "~").dropFirst(2).first.map(String.init) ?? ""
            // meshd generates capture listeners (virtualOutbound, virtualInbound) for REDIRECT.
            proto.node.metadata.fields["INTERCEPTION_MODE"] = Google_Protobuf_Value(stringValue: interception.rawValue.uppercased())
            if let adminAddress {
                guard let (adminHost, adminPort) = Self.split(adminAddress) else { throw ValidationError("--admin-address must be HOST:PORT") }
                proto.admin.address.socketAddress.address = adminHost
                proto.admin.address.socketAddress.portValue = UInt32(adminPort)
            }
            if identity.enabled {
                // What `meshctl proxy-bootstrap` says of a proxy with an identity: meshd then
                // sends it mTLS config.
                proto.node.metadata.fields["WORKLOAD_IDENTITY"] = Google_Protobuf_Value(stringValue: "SDS")
                proto.node.metadata.fields["NAMESPACE"] = Google_Protobuf_Value(stringValue: identity.namespace ?? Self.namespace(nodeId))
                proto.node.metadata.fields["SERVICE_ACCOUNT"] = Google_Protobuf_Value(stringValue: identity.serviceAccount ?? "default")
            }
            proto.dynamicResources.adsConfig.apiType = xdsProtocol == .stateOfTheWorld ? .grpc : .deltaGrpc
            proto.dynamicResources.adsConfig.transportApiVersion = .v3
            var ads = Envoy_Config_Core_V3_GrpcService()
            ads.envoyGrpc.clusterName = "xds-grpc"
            proto.dynamicResources.adsConfig.grpcServices = [ads]
            proto.dynamicResources.cdsConfig.ads = .init()
            proto.dynamicResources.cdsConfig.resourceApiVersion = .v3
            proto.dynamicResources.ldsConfig.ads = .init()
            proto.dynamicResources.ldsConfig.resourceApiVersion = .v3
            var endpoint = Envoy_Config_Endpoint_V3_LbEndpoint()
            endpoint.endpoint.address.socketAddress.address = host
            endpoint.endpoint.address.socketAddress.portValue = UInt32(port)
            var locality = Envoy_Config_Endpoint_V3_LocalityLbEndpoints()
            locality.lbEndpoints = [endpoint]
            var xds = Envoy_Config_Cluster_V3_Cluster()
            xds.name = "xds-grpc"
            xds.type = .static
            xds.loadAssignment.clusterName = "xds-grpc"
            xds.loadAssignment.endpoints = [locality]
            proto.staticResources.clusters = [xds]
            // Through JSON so a --config-json overlay merges the same way as onto a bootstrap file.
            json = try proto.jsonString()
        }
        let config: ProxyBootstrap
        do {
            config = try ProxyBootstrap(json: json, overlayJSON: configJSON)
        } catch let error as ProxyConfigError {
            throw ValidationError("\(error)")
        }
        let agent = try identity.embedded(node: config.node, log: log)
        var server = ProxyServer(bootstrap: config, concurrency: concurrency, drainTime: .seconds(Int64(drainTimeSeconds)), identity: agent, log: log)
        server.accessLogFlushInterval = .milliseconds(Int64(fileFlushIntervalMilliseconds))
        if let appMetrics {
            guard let target = AppMetricsTarget(parsing: appMetrics) else {
                throw ValidationError("--app-metrics must be HOST:PORT[/PATH], got \(appMetrics)")
            }
            server.appMetrics = target
        }
        try await server.run()
    }

    /// The namespace in an Istio node ID (`sidecar~IP~NAME.NAMESPACE~...`).
    static func namespace(_ nodeID: String) -> String {
        nodeID.split(separator: "~").dropFirst(2).first?.split(separator: ".").dropFirst().first.map(String.init) ?? "default"
    }

    static func split(_ address: String) -> (String, Int)? {
        guard let colon = address.lastIndex(of: ":"), let port = Int(address[address.index(after: colon)...]) else { return nil }
        return (String(address[..<colon]), port)
    }
}

struct AgentCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agent",
        abstract: "Get the workload's certificate from meshd's CA, rotate it, and serve it to Envoy over SDS.",
        discussion: """
            The key is made here; the CSR goes to meshd with the workload's bootstrap token \
            (<meshd data dir>/tokens/<namespace>/<name>). Envoy reads the secrets `default` (its \
            certificate and key) and `ROOTCA` (the trust bundle) from --sds-socket; \
            `meshctl proxy-bootstrap --sds-socket PATH` sets that up.
            """)

    @OptionGroup(title: "Identity")
    var identity: IdentityOptions

    @Option(help: "Where to serve SDS (a Unix socket path).")
    var sdsSocket: String

    func run() async throws {
        let log: @Sendable (String) -> Void = { StandardError.write("\($0)\n") }
        try await identity.agent(caAddressDefault: "127.0.0.1:15012", log: log).serve(sdsSocket: sdsSocket)
    }
}

/// The identity agent's options, shared by `meshproxy agent` (beside an Envoy) and `meshproxy
/// run` (the agent inside the proxy: Istio's pilot-agent role without a second process or
/// socket; its key is made in the proxy and never leaves it, its certificate and the mesh root go
/// straight into the proxy's secrets as `default` and `ROOTCA`, and a rotation reaches new
/// connections while open ones keep theirs).
struct IdentityOptions: ParsableArguments {
    @Option(help: "meshd's CA address, HOST:PORT (agent: default 127.0.0.1:15012).")
    var caAddress: String?

    @Option(help: "The mesh's trust bundle, to check the CA's certificate (meshd writes <data dir>/root-cert.pem).")
    var caRoot: String?

    @Option(help: "The file with the workload's bootstrap token (<meshd data dir>/tokens/<namespace>/<name>).")
    var tokenFile: String?

    @Option(help: "The workload's namespace (run: default the bootstrap node's NAMESPACE; else default).")
    var namespace: String?

    @Option(help: "The workload's service account (run: default the bootstrap node's SERVICE_ACCOUNT; else default).")
    var serviceAccount: String?

    @Option(help: "The mesh's trust domain.")
    var trustDomain: String = "cluster.local"

    @Option(help: "Certificate lifetime to ask for, in seconds.")
    var certTtl: Int = 86400

    /// Any identity option given: `meshproxy run` then embeds the agent.
    var enabled: Bool { caAddress != nil || caRoot != nil || tokenFile != nil }

    func validate() throws {
        guard certTtl > 0 else { throw ValidationError("--cert-ttl must be positive") }
    }

    /// The agent these options describe; namespace and service account default to the
    /// bootstrap node's metadata when there is one, else to `default`.
    func agent(caAddressDefault: String? = nil, node: Envoy_Config_Core_V3_Node? = nil,
               log: @escaping @Sendable (String) -> Void) throws -> IdentityAgent {
        guard let caAddress = caAddress ?? caAddressDefault, let caRoot, let tokenFile else {
            throw ValidationError("the identity agent needs --ca-address, --ca-root and --token-file")
        }
        guard let (host, port) = RunCommand.split(caAddress) else { throw ValidationError("--ca-address must be HOST:PORT") }
        guard let root = FileManager.default.contents(atPath: caRoot) else { throw ValidationError("--ca-root \(caRoot): cannot read it") }
        guard let token = FileManager.default.contents(atPath: tokenFile) else { throw ValidationError("--token-file \(tokenFile): cannot read it") }
        func metadata(_ key: String) -> String? {
            if case .stringValue(let value)? = node?.metadata.fields[key]?.kind, !value.isEmpty { return value }
            return nil
        }
        let namespace = self.namespace ?? metadata("NAMESPACE") ?? node.map { RunCommand.namespace($0.id) } ?? "default"
        let serviceAccount = self.serviceAccount ?? metadata("SERVICE_ACCOUNT") ?? "default"
        let client = CAClient(host: host, port: port, rootPEM: String(decoding: root, as: UTF8.self),
                              token: String(decoding: token, as: UTF8.self).trimmingWhitespace())
        return IdentityAgent(ca: client, identityURI: "spiffe://\(trustDomain)/ns/\(namespace)/sa/\(serviceAccount)",
                             ttl: .seconds(certTtl), log: log)
    }

    /// `meshproxy run`'s embedded agent: rotation straight into the proxy's secrets.
    func embedded(node: Envoy_Config_Core_V3_Node, log: @escaping @Sendable (String) -> Void) throws -> (@Sendable (SecretCache) async throws -> Void)? {
        guard enabled else { return nil }
        let agent = try agent(node: node, log: log)
        return { secrets in
            try await agent.rotate { certificate in
                // The bundle first: a context built between the two writes then trusts the new
                // root before it presents a certificate from it.
                secrets.set(SecretDiscoveryService.rootSecret, .trustBundle(certificate.rootPEM))
                secrets.set(SecretDiscoveryService.workloadSecret,
                            .certificate(chainPEM: certificate.presentedChainPEM, keyPEM: certificate.keyPEM))
            }
        }
    }
}

/// `--xds-protocol DELTA_GRPC|GRPC`, spelled as in the bootstrap's `api_type`.
extension ProxyBootstrap.XDSProtocol: ExpressibleByArgument, CaseIterable {
    public static let allCases: [ProxyBootstrap.XDSProtocol] = [.delta, .stateOfTheWorld]
}

/// Log lines to standard error, each in one write so lines from several threads do not interleave.
enum StandardError {
    static func write(_ line: String) {
        var bytes = Array(line.utf8)[...]
        while !bytes.isEmpty {
            let written = bytes.withUnsafeBytes { Glibc.write(2, $0.baseAddress, $0.count) }
            if written < 0 && errno == EINTR { continue }
            guard written > 0 else { return }
            bytes = bytes.dropFirst(written)
        }
    }
}
