// meshd's services wired together: config directory → snapshots → ADS, and the debug API.

import ConfigSources
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import MeshAPI
import MeshCA
import MeshModel
import NIOCore
import XDS

/// meshd: watches the config directory, builds a snapshot on every change, serves it over ADS
/// and shows its state on the debug address. Runs until cancelled.
public struct MeshDaemon: Sendable {
    public struct Options: Sendable {
        public var configDirectory: String
        public var meshConfigFile: String?
        public var xdsAddress: HostAndPort
        public var debugAddress: HostAndPort
        public var pollInterval: Duration = .milliseconds(100)
        public var debounce = DiscoveryServer.Debounce()
        /// The CA's root key, workload tokens and the trust bundle (`root-cert.pem`).
        public var dataDirectory: String?
        /// Where Istio's CSR API listens (TLS, served with a certificate of the mesh CA).
        public var caAddress = HostAndPort(host: "127.0.0.1", port: 15012)
        /// Istio's plug-in CA layout (cacerts) instead of meshd's own root.
        public var pluginCADirectory: String?
        public var caKeyType: CAKeyType = .ecdsaP256
        public var workloadCertificateTTL: Duration = .seconds(24 * 3600)

        public init(configDirectory: String, meshConfigFile: String?, xdsAddress: HostAndPort, debugAddress: HostAndPort) {
            self.configDirectory = configDirectory
            self.meshConfigFile = meshConfigFile
            self.xdsAddress = xdsAddress
            self.debugAddress = debugAddress
        }
    }

    let options: Options
    let log: @Sendable (String) -> Void

    public init(options: Options, log: @escaping @Sendable (String) -> Void) {
        self.options = options
        self.log = log
    }

    public func run() async throws {
        let source = ConfigDirectory(directory: options.configDirectory, meshConfigFile: options.meshConfigFile)
        let first = source.reload(after: .empty())
        report(first)
        let status = DaemonStatus()
        let discovery = DiscoveryServer(snapshot: first.snapshot, debounce: options.debounce, log: log)
        status.loaded(problems: first.problems)

        let transport = HTTP2ServerTransport.Posix(
            address: .ipv4(host: options.xdsAddress.host, port: options.xdsAddress.port),
            transportSecurity: .plaintext,
            config: .defaults { $0.http2.targetWindowSize = 8 << 20 })
        let grpc = GRPCServer(transport: transport, services: [AggregatedDiscoveryService(server: discovery)])
        let dataDirectory = options.dataDirectory ?? (options.configDirectory as NSString).appendingPathComponent(".meshd")
        let trustDomain = first.snapshot.meshConfig.trustDomain ?? "cluster.local"
        let authority: CertificateAuthority
        if let plugin = options.pluginCADirectory {
            authority = try CAStore.plugIn(directory: plugin)
            log("ca: signing with the plug-in CA of \(plugin)")
        } else {
            authority = try await CAStore.selfSigned(directory: (dataDirectory as NSString).appendingPathComponent("ca"), keyType: options.caKeyType, trustDomain: trustDomain)
        }
        // The trust bundle agents and tools read; public.
        let bundle = (dataDirectory as NSString).appendingPathComponent("root-cert.pem")
        try? FileManager.default.removeItem(atPath: bundle)
        FileManager.default.createFile(atPath: bundle, contents: Data(authority.rootPEM.utf8), attributes: [.posixPermissions: 0o644])
        let tokens = WorkloadTokens(dataDirectory: dataDirectory)
        tokens.update(first.snapshot.registry)
        let serving = try authority.issueServing(
            identity: SpiffeIdentity(trustDomain: trustDomain, namespace: first.snapshot.meshConfig.effectiveRootNamespace, serviceAccount: "meshd"),
            dnsNames: ["meshd.istio-system.svc", "istiod.istio-system.svc", "localhost"], ipAddresses: [options.caAddress.host], ttl: .seconds(365 * 24 * 3600))
        let counters = CertificateCounters()
        let certificates = CertificateService(authority: authority, tokens: tokens, defaultTTL: options.workloadCertificateTTL, counters: counters,
                                              snapshot: { await discovery.snapshot }, log: log)
        let caTransport = HTTP2ServerTransport.Posix(
            address: .ipv4(host: options.caAddress.host, port: options.caAddress.port),
            transportSecurity: .tls(certificateChain: serving.chain.map { .bytes(Array($0.utf8), format: .pem) },
                                    privateKey: .bytes(Array(serving.key.utf8), format: .pem)))
        let caServer = GRPCServer(transport: caTransport, services: [certificates])
        let endpoints = DebugEndpoints(server: discovery, status: status, certificates: counters)
        let debug = try await DebugHTTPServer(host: options.debugAddress.host, port: options.debugAddress.port) { path, query in
            await endpoints.respond(path: path, query: query)
        }.start()

        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await grpc.serve() }
            group.addTask { try await caServer.serve() }
            group.addTask {
                if let address = try await grpc.listeningAddress {
                    log("meshd: xDS on \(address), CA on \(options.caAddress) (TLS), debug API on \(options.debugAddress), config from \(options.configDirectory), data in \(dataDirectory)")
                }
            }
            group.addTask {
                var snapshot = first.snapshot
                var skippedFirst = false
                for await _ in source.changes(every: options.pollInterval) {
                    // The first poll sees the files just loaded.
                    guard skippedFirst else { skippedFirst = true; continue }
                    let reload = source.reload(after: snapshot)
                    report(reload)
                    snapshot = reload.snapshot
                    tokens.update(snapshot.registry)
                    status.loaded(problems: reload.problems)
                    await discovery.publish(snapshot)
                }
            }
            defer {
                grpc.beginGracefulShutdown()
                caServer.beginGracefulShutdown()
                debug.close(promise: nil)
            }
            // Runs until cancelled; if a service fails, the others are cancelled with it.
            for try await _ in group {}
        }
    }

    private func report(_ reload: ConfigReload) {
        let snapshot = reload.snapshot
        for problem in reload.problems { log("config: \(problem)") }
        for diagnostic in reload.diagnostics where diagnostic.severity == .error {
            let serving = diagnostic.resource.map { snapshot.resources[$0] != nil } ?? false
            log("config: rejected: \(diagnostic)\(serving ? " (its last valid version keeps serving)" : "")")
        }
        log("config: snapshot \(snapshot.version): \(snapshot.resources.count) resources in force, \(snapshot.rejected.count) rejected, \(snapshot.registry.services.count) services, \(snapshot.registry.workloads.count) workloads")
    }
}

/// `host:port`, as the command line gives addresses.
public struct HostAndPort: Sendable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Parses `127.0.0.1:15010`; nil when the port is missing or not a number in 0...65535.
    public init?(_ text: String) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port) else { return nil }
        let host = String(text[..<colon]).trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        guard !host.isEmpty else { return nil }
        self.init(host: host, port: port)
    }

    public var description: String { "\(host):\(port)" }
}
