// One running embedded mesh: meshd, the apps, their sidecars and an ingress gateway, on loopback.

import ConfigGen
import Foundation
import MeshModel

/// Which proxy runs beside each workload and as the gateway.
public enum DataPlane: String, Sendable, CaseIterable {
    /// meshproxy everywhere, each with its identity agent inside.
    case meshproxy
    /// Stock Envoy everywhere, each with a `meshproxy agent` serving it SDS.
    case envoy
    /// Alternating in plan order (the gateway is Envoy, the first workload meshproxy, ...): every
    /// kind of hop, Envoy → meshproxy, meshproxy → Envoy and each to its own kind, under the same
    /// mTLS. The interoperability check.
    case mixed

    func proxy(forIndex index: Int) -> DataPlane {
        self == .mixed ? (index % 2 == 0 ? .envoy : .meshproxy) : self
    }
}

/// Everything a mesh run needs to start.
public struct MeshRunOptions: Sendable {
    /// Where config, logs, bootstraps and the state file go.
    public var runDirectory: String
    /// The meshd and bookinfo-style executables' directory (meshctl's own).
    public var binDirectory: String
    public var envoy: String
    public var dataPlane: DataPlane = .meshproxy
    public var workloads: [WorkloadSpec]
    /// `127.N`: workload addresses are `127.N.1.i` (instance) and `127.N.2.i` (egress).
    public var subnet = "127.10"
    /// Where the ingress gateway's node lives; its Gateway listeners bind this address.
    public var gatewayAddress = "127.0.0.1"
    public var gatewayAdminPort = 15000
    public var gatewayLabels = ["istio": "ingressgateway"]
    public var xdsPort = 15010
    public var debugPort = 15014
    public var caPort = 15012
    public var baseID = 5000
    /// Workload certificate lifetime (meshd's cap and what agents ask for).
    public var workloadCertificateTTL = 86400
    /// Istio YAML applied at start (each resource becomes a file of its own in the config
    /// directory, as `meshctl apply` writes them).
    public var initialConfig: [String] = []
    /// When set, a Prometheus (Debian's `prometheus`, from PATH) listening here scrapes every
    /// proxy and meshd; its data goes under the run directory.
    public var prometheusAddress: String?
    /// An Istio MeshConfig file meshd reads (and rereads when it changes); nil: Istio's defaults.
    public var meshConfigFile: String?

    public init(runDirectory: String, binDirectory: String, envoy: String, workloads: [WorkloadSpec]) {
        self.runDirectory = runDirectory
        self.binDirectory = binDirectory
        self.envoy = envoy
        self.workloads = workloads
    }
}

/// What other commands (`meshctl apply`, `get`, `proxy-status`, `demo stop`) read to find the
/// running mesh: `<run directory>/mesh.json`.
public struct MeshState: Codable, Sendable {
    public var pid: Int32
    public var configDirectory: String
    public var debugAddress: String
    public var xdsAddress: String
    public var gateway: String
    /// The run's Prometheus (`http://host:port`), when it started one.
    public var prometheus: String?
    public var processes: [Supervisor.Child]

    public static func path(in runDirectory: String) -> String {
        (runDirectory as NSString).appendingPathComponent("mesh.json")
    }

    public static func load(runDirectory: String) throws -> MeshState {
        let path = path(in: runDirectory)
        guard let data = FileManager.default.contents(atPath: path) else {
            throw MeshRunError("no running mesh at \(runDirectory) (no \(path)); start one with `meshctl demo` or `meshctl up`")
        }
        do {
            return try JSONDecoder().decode(MeshState.self, from: data)
        } catch {
            throw MeshRunError("\(path) is not a mesh state file: \(error)")
        }
    }
}

/// Starts a mesh and keeps it running until `stop()`. Each step reports through `progress`.
public final class MeshRun: Sendable {
    public let options: MeshRunOptions
    public let supervisor: Supervisor
    public let plan: MeshPlan
    public let configDirectory: String
    /// meshd's data: its CA, workload tokens and the trust bundle.
    public let dataDirectory: String
    let progress: @Sendable (String) -> Void

    public init(options: MeshRunOptions, progress: @escaping @Sendable (String) -> Void) throws {
        self.options = options
        self.progress = progress
        let fileManager = FileManager.default
        // A previous run's files (logs, config) are replaced: one run directory per mesh.
        try? fileManager.removeItem(atPath: options.runDirectory)
        configDirectory = (options.runDirectory as NSString).appendingPathComponent("config")
        dataDirectory = (options.runDirectory as NSString).appendingPathComponent("meshd")
        let logs = (options.runDirectory as NSString).appendingPathComponent("logs")
        for directory in [configDirectory, logs, (options.runDirectory as NSString).appendingPathComponent("proxies")] {
            try fileManager.createDirectory(atPath: directory, withIntermediateDirectories: true)
        }
        supervisor = Supervisor(logDirectory: logs)
        plan = MeshPlan(options.workloads, subnet: options.subnet, appPorts: try freePorts(options.workloads.count), baseID: options.baseID + 1)
    }

    public var gatewayURL: String { "http://\(options.gatewayAddress):8080" }

    /// Starts meshd, every app and sidecar, and the gateway; returns when all are ready.
    public func start() async throws {
        let started = ContinuousClock.now
        let gateway = GatewaySpec(address: options.gatewayAddress, labels: options.gatewayLabels)
        try (plan.resources(gateway: gateway) as NSString).write(toFile: (configDirectory as NSString).appendingPathComponent("00-workloads.yaml"),
                                                 atomically: true, encoding: String.Encoding.utf8.rawValue)
        for text in options.initialConfig { _ = try ConfigStore(directory: configDirectory).apply(text, file: "initial config") }

        let debug = "127.0.0.1:\(options.debugPort)"
        try step("meshd (control plane, xDS on 127.0.0.1:\(options.xdsPort))") {
            try self.supervisor.start("meshd", [self.binary("meshd"), "--config-dir", self.configDirectory,
                                                "--xds-address", "127.0.0.1:\(self.options.xdsPort)", "--debug-address", debug,
                                                "--ca-address", "127.0.0.1:\(self.options.caPort)", "--data-dir", self.dataDirectory,
                                                "--workload-cert-ttl", String(self.options.workloadCertificateTTL)]
                                                + (self.options.meshConfigFile.map { ["--mesh-config", $0] } ?? []))
        }
        try await waitUntil("meshd ready", timeout: .seconds(20)) { await httpGet("http://\(debug)/ready")?.hasPrefix("ready") == true }

        for workload in plan.workloads {
            let spec = workload.spec
            let argv = spec.command.map { $0.replacingOccurrences(of: "{port}", with: String(workload.appPort)) }
            let environment = spec.environment.mapValues { $0.replacingOccurrences(of: "{egress}", with: workload.egressAddress) }
            try step("\(spec.name): app on 127.0.0.1:\(workload.appPort)") {
                try self.supervisor.start(spec.name, [try self.executable(argv[0])] + argv.dropFirst(), environment: environment)
            }
            try startProxy(name: "\(spec.name)-sidecar", node: ProxyNodeID(type: .sidecar, ip: workload.instanceAddress, name: spec.name, namespace: spec.namespace),
                           adminPort: workload.adminPort, labels: spec.labels, serviceAccount: spec.serviceAccount, baseID: workload.baseID,
                           kind: proxyKind(of: workload.spec.name), appMetrics: spec.metricsPath.map { "127.0.0.1:\(workload.appPort)\($0)" })
        }
        try startProxy(name: gateway.name, node: ProxyNodeID(type: .router, ip: gateway.address, name: gateway.name, namespace: gateway.namespace),
                       adminPort: options.gatewayAdminPort, labels: gateway.labels, serviceAccount: gateway.serviceAccount, baseID: options.baseID,
                       kind: proxyKind(of: nil))

        for workload in plan.workloads {
            try await waitUntil("\(workload.spec.name) ready", timeout: .seconds(20)) {
                await httpGet("http://\(workload.instanceAddress):\(workload.adminPort)/ready")?.hasPrefix("LIVE") == true
                    && canConnect(host: "127.0.0.1", port: workload.appPort)
            }
        }
        try await waitUntil("istio-ingressgateway ready", timeout: .seconds(20)) {
            await httpGet("http://\(self.options.gatewayAddress):\(self.options.gatewayAdminPort)/ready")?.hasPrefix("LIVE") == true
        }
        if let address = options.prometheusAddress { try await startPrometheus(at: address, gateway: gateway, debug: debug) }
        try writeState()
        progress(String(format: "mesh ready in %.1f s: %d workloads, their sidecars and the ingress gateway", started.elapsedSeconds, plan.workloads.count))
    }

    /// What the run's Prometheus scrapes: every proxy and meshd's debug address. A meshproxy
    /// sidecar is scraped on 15020, its metrics merged with its app's (as Istio's Prometheus
    /// scrapes the agent's merged port); Envoy and the gateway on their admin port.
    public func prometheusScrape(gateway: GatewaySpec, debug: String) -> PrometheusScrape {
        var proxies = plan.workloads.map {
            let port = proxyKind(of: $0.spec.name) == .meshproxy ? 15020 : $0.adminPort
            return PrometheusScrape.Target(address: "\($0.instanceAddress):\(port)", proxy: "\($0.spec.name)-sidecar", workload: $0.spec.name)
        }
        proxies.append(PrometheusScrape.Target(address: "\(gateway.address):\(options.gatewayAdminPort)", proxy: gateway.name, workload: gateway.name))
        return PrometheusScrape(proxies: proxies, meshd: debug)
    }

    private func startPrometheus(at address: String, gateway: GatewaySpec, debug: String) async throws {
        let directory = (options.runDirectory as NSString).appendingPathComponent("prometheus")
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let config = (directory as NSString).appendingPathComponent("prometheus.yml")
        try prometheusScrape(gateway: gateway, debug: debug).yaml.write(toFile: config, atomically: true, encoding: .utf8)
        let program: String
        do {
            program = try executable("prometheus")
        } catch {
            throw MeshRunError("prometheus: not on PATH (Debian's package `prometheus`; scripts/setup.sh installs it)")
        }
        try step("Prometheus on \(address), scraping \(plan.workloads.count + 1) proxies and meshd (\(config))") {
            try self.supervisor.start("prometheus", [program, "--config.file=\(config)",
                                                     "--storage.tsdb.path=\((directory as NSString).appendingPathComponent("data"))",
                                                     "--web.listen-address=\(address)", "--log.level=warn"])
        }
        try await waitUntil("Prometheus ready", timeout: .seconds(30)) {
            await httpGet("http://\(address)/-/ready")?.contains("Ready") == true  // 503 "Service Unavailable" until then
        }
    }

    /// Fails when a process the mesh needs has exited, naming it and its log.
    public func checkAlive() throws {
        if let (name, status) = supervisor.exited() {
            let how = status & 0x7f == 0 ? "exited with status \(status >> 8)" : "was killed by signal \(status & 0x7f)"
            throw MeshRunError("\(name) \(how); see \(supervisor.logDirectory)/\(name).log")
        }
    }

    /// Stops every process and removes the state file; logs and config stay in the run directory.
    public func stop() {
        supervisor.stopAll()
        try? FileManager.default.removeItem(atPath: MeshState.path(in: options.runDirectory))
    }

    /// The proxy kind of a workload (nil: the gateway), by the run's data plane.
    public func proxyKind(of workload: String?) -> DataPlane {
        guard let workload else { return options.dataPlane.proxy(forIndex: 0) }
        let index = plan.workloads.firstIndex { $0.spec.name == workload } ?? 0
        return options.dataPlane.proxy(forIndex: index + 1)
    }

    /// meshproxy with its identity agent inside, or the workload's identity agent and then its
    /// Envoy reading certificates from the agent's socket. Both get the same bootstrap.
    private func startProxy(name: String, node: ProxyNodeID, adminPort: Int, labels: [String: String], serviceAccount: String, baseID: Int,
                            kind: DataPlane, appMetrics: String? = nil) throws {
        let proxies = (options.runDirectory as NSString).appendingPathComponent("proxies")
        let socket = (proxies as NSString).appendingPathComponent("\(name).sds.sock")
        let token = ((dataDirectory as NSString).appendingPathComponent("tokens/\(node.namespace)") as NSString).appendingPathComponent(node.name)
        let rootCertificate = (dataDirectory as NSString).appendingPathComponent("root-cert.pem")
        var bootstrap = BootstrapOptions(node: node, xdsHost: "127.0.0.1", xdsPort: UInt32(options.xdsPort))
        bootstrap.adminPort = UInt32(adminPort)
        bootstrap.labels = labels
        bootstrap.serviceAccount = serviceAccount
        bootstrap.sdsSocket = socket
        if kind == .meshproxy { bootstrap.xdsProtocol = .delta }  // meshproxy's ADS client speaks delta
        let path = (proxies as NSString).appendingPathComponent("\(name).json")
        try ProtoJSON.pretty(try BootstrapGenerator.bootstrap(bootstrap)).write(toFile: path, atomically: true, encoding: .utf8)
        if kind == .meshproxy {
            try step("\(name): meshproxy at \(node.ip) (admin :\(adminPort), identity agent inside)") {
                // The same drain time as the demo's Envoys: a policy change closes connections it
                // took away within a second.
                try self.supervisor.start(name, [self.binary("meshproxy"), "run", "--bootstrap", path, "--concurrency", "1",
                                                 "--drain-time-s", "1", "--file-flush-interval-msec", "1000",
                                                 "--ca-address", "127.0.0.1:\(self.options.caPort)", "--ca-root", rootCertificate,
                                                 "--token-file", token, "--cert-ttl", String(self.options.workloadCertificateTTL)]
                                                 + (appMetrics.map { ["--app-metrics", $0] } ?? []))
            }
            return
        }
        try step("\(name): identity agent (SDS on \(socket))") {
            try self.supervisor.start("\(name)-agent", [self.binary("meshproxy"), "agent", "--ca-address", "127.0.0.1:\(self.options.caPort)",
                                                        "--ca-root", rootCertificate,
                                                        "--token-file", token, "--namespace", node.namespace, "--service-account", serviceAccount,
                                                        "--sds-socket", socket, "--cert-ttl", String(self.options.workloadCertificateTTL)])
        }
        try step("\(name): Envoy at \(node.ip) (admin :\(adminPort))") {
            // No hot restart: it would leave shared memory in /dev/shm behind every run.
            try self.supervisor.start(name, [self.options.envoy, "-c", path, "--base-id", String(baseID), "--disable-hot-restart", "--concurrency", "1",
                                             "-l", "warning", "--drain-time-s", "1",
                                             // Access-log lines within a second, as meshproxy writes them (Envoy's default is 10 s).
                                             "--file-flush-interval-msec", "1000"])
        }
    }

    private func writeState() throws {
        let state = MeshState(pid: getpid(), configDirectory: configDirectory, debugAddress: "127.0.0.1:\(options.debugPort)",
                              xdsAddress: "127.0.0.1:\(options.xdsPort)", gateway: gatewayURL,
                              prometheus: options.prometheusAddress.map { "http://\($0)" }, processes: supervisor.running)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(state).write(to: URL(fileURLWithPath: MeshState.path(in: options.runDirectory)))
    }

    private func binary(_ name: String) -> String {
        (options.binDirectory as NSString).appendingPathComponent(name)
    }

    /// A workload's program: a path as given; a bare name from SwiftMesh's own binaries
    /// (`bookinfo`, `echo-server`), else from PATH.
    private func executable(_ name: String) throws -> String {
        if name.contains("/") { return name }
        let candidates = [binary(name)] + (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map { "\($0)/\(name)" }
        guard let found = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw MeshRunError("\(name): no such program beside meshctl or on PATH")
        }
        return found
    }

    private func step(_ what: String, _ body: () throws -> Void) throws {
        progress("starting \(what)")
        try body()
    }

    private func waitUntil(_ what: String, timeout: Duration, _ condition: @Sendable () async -> Bool) async throws {
        let started = ContinuousClock.now
        while !(await condition()) {
            try checkAlive()
            guard ContinuousClock.now - started < timeout else {
                throw MeshRunError("\(what): not after \(timeout); logs in \(supervisor.logDirectory)")
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        progress(String(format: "  ✓ %@ (%.1f s)", what, started.elapsedSeconds))
    }
}

extension ContinuousClock.Instant {
    var elapsedSeconds: Double {
        let elapsed = ContinuousClock.now - self
        return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    }
}
