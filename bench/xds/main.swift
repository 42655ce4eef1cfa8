// XDSBench: ConfigGen cost and xDS size per proxy, and push latency from a config change to the
// last proxy's update, with simulated delta ADS clients against a real meshd process.
//
//   swift build -c release --product XDSBench --product meshd
//   .build/release/XDSBench --meshd .build/release/meshd [--services 1000] [--endpoints 10]
//                           [--proxies 100,1000] [--unscoped-proxies N] [--json bench/results/xds.json]

import ConfigGen
import EnvoyAPI
import EnvoyServices
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import MeshAPI
import MeshModel
import Synchronization
import SwiftProtobuf

struct Options {
    var meshd = ".build/release/meshd"
    var services = 1000
    var endpoints = 10
    var proxies = [100, 1000]
    var scopedServices = 10
    /// Proxies for the unscoped push (every proxy gets the whole mesh); 0 skips it.
    var unscopedProxies: Int?
    var json: String?

    init() {
        var arguments = CommandLine.arguments.dropFirst()
        while let argument = arguments.popFirst() {
            switch argument {
            case "--meshd": meshd = arguments.popFirst()!
            case "--services": services = Int(arguments.popFirst()!)!
            case "--endpoints": endpoints = Int(arguments.popFirst()!)!
            case "--proxies": proxies = arguments.popFirst()!.split(separator: ",").map { Int($0)! }
            case "--unscoped-proxies": unscopedProxies = Int(arguments.popFirst()!)!
            case "--json": json = arguments.popFirst()!
            default: fatalError("unknown argument \(argument)")
            }
        }
    }
}

/// The generated mesh: services with inline endpoints, a DestinationRule with two subsets and a
/// VirtualService splitting between them for each; client proxies registered by WorkloadEntry.
enum GeneratedMesh {
    static func services(_ indices: Range<Int>, endpoints: Int, endpointGeneration: Int = 0) -> String {
        var text = ""
        for i in indices {
            let eps = (0..<endpoints).map { e in
                "{address: 10.\(i / 250).\(i % 250).\(e + 1 + (i == 0 ? endpointGeneration : 0)), labels: {version: v\(e % 2 + 1)}}"
            }.joined(separator: ", ")
            text += """
                apiVersion: networking.istio.io/v1
                kind: ServiceEntry
                metadata: {name: svc-\(i), namespace: default}
                spec:
                  hosts: [svc-\(i).default.svc.cluster.local]
                  location: MESH_INTERNAL
                  resolution: STATIC
                  ports: [{number: 9080, name: http, protocol: HTTP}]
                  endpoints: [\(eps)]
                ---
                apiVersion: networking.istio.io/v1
                kind: DestinationRule
                metadata: {name: svc-\(i), namespace: default}
                spec:
                  host: svc-\(i)
                  subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]
                ---

                """
        }
        return text
    }

    static func routes(_ indices: Range<Int>, weightOfV1 first: Int) -> String {
        indices.map { i in
            let weight = i == 0 ? first : 90
            return """
                apiVersion: networking.istio.io/v1
                kind: VirtualService
                metadata: {name: svc-\(i), namespace: default}
                spec:
                  hosts: [svc-\(i)]
                  http:
                  - route:
                    - {destination: {host: svc-\(i), subset: v1}, weight: \(weight)}
                    - {destination: {host: svc-\(i), subset: v2}, weight: \(100 - weight)}
                ---

                """
        }.joined()
    }

    /// Proxy p: a WorkloadEntry at its address and a Sidecar importing service 0 (so every proxy
    /// sees the change) and `scoped - 1` others; unscoped proxies get no Sidecar.
    static func proxies(_ count: Int, scoped: Int?, services: Int) -> String {
        (0..<count).map { p in
            var text = """
                apiVersion: networking.istio.io/v1
                kind: WorkloadEntry
                metadata: {name: proxy-\(p), namespace: default}
                spec: {address: \(address(p)), labels: {app: proxy-\(p)}}
                ---

                """
            if let scoped {
                let hosts = ([0] + (1..<scoped).map { 1 + (p * 7 + $0 * 13) % (services - 1) })
                    .map { "\"./svc-\($0).default.svc.cluster.local\"" }.joined(separator: ", ")
                text += """
                    apiVersion: networking.istio.io/v1
                    kind: Sidecar
                    metadata: {name: proxy-\(p), namespace: default}
                    spec:
                      workloadSelector: {labels: {app: proxy-\(p)}}
                      egress:
                      - port: {number: 9080, protocol: HTTP, name: http}
                        bind: 127.1.\(p / 250).\(p % 250 + 1)
                        captureMode: NONE
                        hosts: [\(hosts)]
                    ---

                    """
            }
            return text
        }.joined()
    }

    static func address(_ p: Int) -> String { "127.2.\(p / 250).\(p % 250 + 1)" }
}

// MARK: ConfigGen cost

struct GenerationResult: Codable {
    var label: String
    var milliseconds: Double
    var bytes: Int
    var clusters: Int
    var routes: Int
}

func measureConfigGen(_ options: Options) throws -> [GenerationResult] {
    let text = GeneratedMesh.services(0..<options.services, endpoints: options.endpoints)
        + GeneratedMesh.routes(0..<options.services, weightOfV1: 90)
        + GeneratedMesh.proxies(2, scoped: nil, services: options.services)
        + GeneratedMesh.proxies(1, scoped: options.scopedServices, services: options.services)
            .replacingOccurrences(of: "proxy-0", with: "proxy-scoped").replacingOccurrences(of: "127.2.0.1", with: "127.3.0.1")
    let report = ValidationReport.validate([ConfigInput(file: "mesh.yaml", data: Data(text.utf8))])
    precondition(report.errorCount == 0, "\(report.diagnostics.prefix(3))")
    let snapshot = MeshSnapshot.empty().next(report)
    var results: [GenerationResult] = []
    for (label, ip, name) in [("unscoped (all \(options.services) services)", "127.2.0.1", "proxy-0"),
                              ("Sidecar-scoped (\(options.scopedServices) services)", "127.3.0.1", "proxy-scoped")] {
        let proxy = MeshProxy(id: ProxyNodeID(type: .sidecar, ip: ip, name: name, namespace: "default"), metadata: ProxyMetadata(), registry: snapshot.registry)
        var best = Double.infinity
        var resources = ProxyResources()
        for _ in 0..<5 {
            let start = ContinuousClock.now
            resources = try ProxyConfigGenerator(snapshot: snapshot).generate(for: proxy)
            best = min(best, (ContinuousClock.now - start).milliseconds)
        }
        let messages: [any SwiftProtobuf.Message] = resources.clusters + resources.endpoints + resources.listeners + resources.routes
        let bytes = try messages.reduce(0) { $0 + (try $1.serializedBytes() as [UInt8]).count }
        results.append(GenerationResult(label: label, milliseconds: best, bytes: bytes, clusters: resources.clusters.count, routes: resources.routes.count))
    }
    return results
}

extension Duration {
    var milliseconds: Double { Double(components.seconds) * 1000 + Double(components.attoseconds) / 1e15 }
}

// MARK: Push latency

/// When each simulated proxy last received each type, after the trigger.
final class Arrivals: Sendable {
    private let state = Mutex<[Int: [String: ContinuousClock.Instant]]>([:])
    func record(_ proxy: Int, _ type: String) {
        let now = ContinuousClock.now
        state.withLock { $0[proxy, default: [:]][type] = now }
    }
    func snapshot() -> [Int: [String: ContinuousClock.Instant]] { state.withLock { $0 } }
}

/// A delta ADS client that behaves as Envoy does: wildcard CDS and LDS, then EDS for the EDS
/// clusters and RDS for the listeners' route names, ACKing every response.
func runClient(_ ads: Envoy_Service_Discovery_V3_AggregatedDiscoveryService.Client<HTTP2ClientTransport.Posix>, proxy: Int, arrivals: Arrivals) async throws {
    let (acks, ackContinuation) = AsyncStream.makeStream(of: Envoy_Service_Discovery_V3_DeltaDiscoveryRequest.self)
    try await ads.deltaAggregatedResources(requestProducer: { writer in
        for type in [ResourceTypeURL.cluster, ResourceTypeURL.listener] {
            var request = Envoy_Service_Discovery_V3_DeltaDiscoveryRequest()
            request.node.id = "sidecar~\(GeneratedMesh.address(proxy))~proxy-\(proxy).default~default.svc.cluster.local"
            request.typeURL = type
            try await writer.write(request)
        }
        for await ack in acks { try await writer.write(ack) }
    }, onResponse: { response in
        var subscribedEDS: Set<String> = []
        var subscribedRDS: Set<String> = []
        for try await message in response.messages {
            arrivals.record(proxy, message.typeURL)
            var ack = Envoy_Service_Discovery_V3_DeltaDiscoveryRequest()
            ack.typeURL = message.typeURL
            ack.responseNonce = message.nonce
            ackContinuation.yield(ack)
            var subscribe = Envoy_Service_Discovery_V3_DeltaDiscoveryRequest()
            if message.typeURL == ResourceTypeURL.cluster {
                subscribe.typeURL = ResourceTypeURL.endpoint
                for resource in message.resources {
                    let cluster = try Envoy_Config_Cluster_V3_Cluster(serializedBytes: resource.resource.value)
                    if cluster.type == .eds, subscribedEDS.insert(cluster.name).inserted { subscribe.resourceNamesSubscribe.append(cluster.name) }
                }
            } else if message.typeURL == ResourceTypeURL.listener {
                subscribe.typeURL = ResourceTypeURL.route
                for resource in message.resources {
                    let listener = try Envoy_Config_Listener_V3_Listener(serializedBytes: resource.resource.value)
                    for chain in listener.filterChains {
                        for filter in chain.filters where filter.typedConfig.typeURL.hasSuffix("HttpConnectionManager") {
                            let manager = try Envoy_Extensions_Filters_Network_HttpConnectionManager_V3_HttpConnectionManager(serializedBytes: filter.typedConfig.value)
                            if case .rds(let rds)? = manager.routeSpecifier, subscribedRDS.insert(rds.routeConfigName).inserted {
                                subscribe.resourceNamesSubscribe.append(rds.routeConfigName)
                            }
                        }
                    }
                }
            }
            if !subscribe.resourceNamesSubscribe.isEmpty { ackContinuation.yield(subscribe) }
        }
        ackContinuation.finish()
    })
}

enum ResourceTypeURL {
    static let cluster = "type.googleapis.com/envoy.config.cluster.v3.Cluster"
    static let endpoint = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment"
    static let listener = "type.googleapis.com/envoy.config.listener.v3.Listener"
    static let route = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration"
}

struct PushResult: Codable {
    var proxies: Int
    var scoped: Bool
    var change: String
    var milliseconds: Double
    var meshdRSSMiB: Double
    var meshdPeakMiB: Double
}

func memory(of pid: Int32) -> (rss: Double, peak: Double) {
    guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return (0, 0) }
    func field(_ name: String) -> Double {
        guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix(name + ":") }) else { return 0 }
        return (Double(line.split(separator: " ").dropFirst().first { !$0.isEmpty }.map(String.init) ?? "0") ?? 0) / 1024
    }
    return (field("VmRSS"), field("VmHWM"))
}

func measurePush(_ options: Options, proxies: Int, scoped: Bool, port: Int) async throws -> [PushResult] {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("xdsbench-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    func write(_ name: String, _ text: String) throws {
        let temporary = directory.appendingPathComponent(".\(name).tmp")
        try text.write(to: temporary, atomically: false, encoding: .utf8)
        // rename(2): meshd never sees half a file.
        guard rename(temporary.path, directory.appendingPathComponent(name).path) == 0 else { fatalError("rename failed") }
    }
    // Service 0 and its VirtualService, which the changes edit, have files of their own, as a
    // `kubectl apply` of one object would change one object: meshd re-validates changed files.
    try write("services.yaml", GeneratedMesh.services(1..<options.services, endpoints: options.endpoints))
    try write("service-0.yaml", GeneratedMesh.services(0..<1, endpoints: options.endpoints))
    try write("routes.yaml", GeneratedMesh.routes(1..<options.services, weightOfV1: 90))
    try write("route-0.yaml", GeneratedMesh.routes(0..<1, weightOfV1: 90))
    try write("proxies.yaml", GeneratedMesh.proxies(proxies, scoped: scoped ? options.scopedServices : nil, services: options.services))

    let meshd = Process()
    meshd.executableURL = URL(fileURLWithPath: options.meshd)
    meshd.arguments = ["--config-dir", directory.path, "--xds-address", "127.0.0.1:\(port)", "--debug-address", "127.0.0.1:\(port + 1)",
                       "--ca-address", "127.0.0.1:\(port + 2)"]
    meshd.standardError = FileHandle(forWritingAtPath: "/dev/null")
    try meshd.run()
    defer { meshd.terminate(); meshd.waitUntilExit() }
    try await Task.sleep(for: .seconds(3))

    let arrivals = Arrivals()
    let connections = 10
    var results: [PushResult] = []
    try await withThrowingTaskGroup(of: Void.self) { group in
        for c in 0..<connections {
            group.addTask {
                try await withGRPCClient(transport: try .http2NIOPosix(target: .ipv4(address: "127.0.0.1", port: port), transportSecurity: .plaintext)) { client in
                    let ads = Envoy_Service_Discovery_V3_AggregatedDiscoveryService.Client(wrapping: client)
                    try await withThrowingTaskGroup(of: Void.self) { streams in
                        for p in stride(from: c, to: proxies, by: connections) {
                            streams.addTask { try await runClient(ads, proxy: p, arrivals: arrivals) }
                        }
                        try await streams.waitForAll()
                    }
                }
            }
        }
        // Everyone has all four types.
        let deadline = ContinuousClock.now + .seconds(600)
        while arrivals.snapshot().values.filter({ $0.count == 4 }).count < proxies {
            guard ContinuousClock.now < deadline else { fatalError("proxies did not sync") }
            try await Task.sleep(for: .milliseconds(50))
        }
        try await Task.sleep(for: .seconds(1))
        let settled = memory(of: meshd.processIdentifier)
        say("  \(proxies) proxies \(scoped ? "scoped" : "unscoped") connected and synced: meshd RSS \(String(format: "%.0f", settled.rss)) MiB (peak \(String(format: "%.0f", settled.peak)) MiB)")
        for (change, file, text, type) in [
            ("endpoint change (delta EDS)", "service-0.yaml", GeneratedMesh.services(0..<1, endpoints: options.endpoints, endpointGeneration: 100), ResourceTypeURL.endpoint),
            ("route change (RDS)", "route-0.yaml", GeneratedMesh.routes(0..<1, weightOfV1: 50), ResourceTypeURL.route),
        ] {
            let trigger = ContinuousClock.now
            try write(file, text)
            let deadline = ContinuousClock.now + .seconds(600)
            while true {
                let latest = arrivals.snapshot().values.compactMap { $0[type] }
                if latest.count == proxies && latest.allSatisfy({ $0 > trigger }) {
                    let memory = memory(of: meshd.processIdentifier)
                    let result = PushResult(proxies: proxies, scoped: scoped, change: change,
                                            milliseconds: (latest.max()! - trigger).milliseconds,
                                            meshdRSSMiB: memory.rss, meshdPeakMiB: memory.peak)
                    say(result.line(scopedServices: options.scopedServices))
                    results.append(result)
                    break
                }
                guard ContinuousClock.now < deadline else { fatalError("\(change) did not reach every proxy") }
                try await Task.sleep(for: .milliseconds(5))
            }
            try await Task.sleep(for: .seconds(1))
        }
        group.cancelAll()
    }
    return results
}

extension PushResult {
    func line(scopedServices: Int) -> String {
        "  \(proxies) proxies, \(scoped ? "scoped to \(scopedServices) services" : "unscoped"), \(change): \(String(format: "%.0f", milliseconds)) ms; meshd RSS \(String(format: "%.0f", meshdRSSMiB)) MiB (peak \(String(format: "%.0f", meshdPeakMiB)) MiB)"
    }
}

/// Writes a line at once (unbuffered), so each phase shows as it finishes, also into a file.
func say(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}

struct Report: Codable {
    var date: String
    var services: Int
    var endpointsPerService: Int
    var configGen: [GenerationResult]
    var push: [PushResult]
}

let options = Options()
let generation = try measureConfigGen(options)
say("ConfigGen, one proxy, \(options.services) services x \(options.endpoints) endpoints (best of 5):")
for result in generation {
    say("  \(result.label): \(String(format: "%.1f", result.milliseconds)) ms, \(result.bytes / 1024) KiB of xDS, \(result.clusters) clusters, \(result.routes) route configs")
}
say("Change written -> last proxy updated (includes the 100 ms file poll and 100 ms debounce):")
var pushes: [PushResult] = []
var port = 17000
for count in options.proxies {
    pushes += try await measurePush(options, proxies: count, scoped: true, port: port)
    port += 3
}
if let unscoped = options.unscopedProxies ?? options.proxies.min(), unscoped > 0 {
    pushes += try await measurePush(options, proxies: unscoped, scoped: false, port: port)
}
if let path = options.json {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    let report = Report(date: ISO8601DateFormatter().string(from: Date()), services: options.services, endpointsPerService: options.endpoints, configGen: generation, push: pushes)
    try encoder.encode(report).write(to: URL(fileURLWithPath: path))
}
