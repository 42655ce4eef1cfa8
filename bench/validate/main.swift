// Benchmark: validating 10,000 generated Istio resources beside a bare libyaml scan of the same files.

import CLibYAML
import Foundation
import MeshAPI

// Run it with bench/validate.sh (release build); it prints a table, writes JSON and asserts nothing.

struct Options {
    var resources = 10_000
    var rounds = 5
    var jsonPath = "bench/results/validate.json"

    init(arguments: [String]) {
        var iterator = arguments.dropFirst().makeIterator()
        while let argument = iterator.next() {
            switch argument {
            case "--resources": resources = Int(iterator.next() ?? "") ?? resources
            case "--rounds": rounds = Int(iterator.next() ?? "") ?? rounds
            case "--json": jsonPath = iterator.next() ?? jsonPath
            default: FileHandle.standardError.write(Data("unknown argument \(argument)\n".utf8))
            }
        }
    }
}

/// Istio resources of the kinds users have most of, each with realistic content. Every ten
/// resources describe three services: VirtualServices route to them, DestinationRules define
/// their subsets, ServiceEntries register their hosts, so the cross-resource checks find every
/// reference (a coherent mesh, not a pile of warnings).
enum Corpus {
    /// The host of service `k` (0...2) of the group `index` belongs to.
    static func serviceHost(_ index: Int, _ k: Int) -> String {
        let service = index - index % 10 + 4 + k
        return "svc-\(service).team-\(service % 50).svc.cluster.local"
    }

    static func resource(_ index: Int) -> String {
        let name = "svc-\(index)"
        let namespace = "team-\(index % 50)"
        switch index % 10 {
        case 0, 1, 2, 3:
            let host = serviceHost(index, index % 10 % 3)
            return """
                apiVersion: networking.istio.io/v1
                kind: VirtualService
                metadata:
                  name: \(name)
                  namespace: \(namespace)
                spec:
                  hosts:
                  - \(host)
                  http:
                  - name: canary
                    match:
                    - headers:
                        end-user:
                          exact: user-\(index)
                      uri:
                        regex: "^/api/v[0-9]+/items/[0-9]+$"
                    route:
                    - destination:
                        host: \(host)
                        subset: v2
                      weight: 90
                    - destination:
                        host: \(host)
                        subset: v3
                      weight: 10
                    timeout: 3s
                    retries:
                      attempts: 2
                      perTryTimeout: 1s
                      retryOn: 5xx,connect-failure,refused-stream
                  - route:
                    - destination:
                        host: \(host)
                        subset: v1
                """
        case 4, 5, 6:
            return """
                apiVersion: networking.istio.io/v1
                kind: DestinationRule
                metadata:
                  name: \(name)
                  namespace: \(namespace)
                spec:
                  host: \(name).\(namespace).svc.cluster.local
                  trafficPolicy:
                    connectionPool:
                      tcp: {maxConnections: 100, connectTimeout: 30ms}
                      http: {http1MaxPendingRequests: 10, maxRequestsPerConnection: 10}
                    outlierDetection: {consecutive5xxErrors: 7, interval: 5m, baseEjectionTime: 15m}
                    tls: {mode: ISTIO_MUTUAL}
                  subsets:
                  - {name: v1, labels: {version: v1}}
                  - {name: v2, labels: {version: v2}}
                  - {name: v3, labels: {version: v3}}
                """
        case 7, 8:
            let hosts = index % 10 == 7 ? [serviceHost(index, 0), serviceHost(index, 1)] : [serviceHost(index, 2)]
            return """
                apiVersion: networking.istio.io/v1
                kind: ServiceEntry
                metadata:
                  name: \(name)
                  namespace: \(namespace)
                spec:
                  hosts: [\(hosts.joined(separator: ", "))]
                  location: MESH_INTERNAL
                  resolution: STATIC
                  ports:
                  - {number: 9080, name: http, protocol: HTTP}
                  endpoints:
                  - {address: 10.\(index % 250).\(index / 250 % 250).1, ports: {http: 8080}, labels: {app: \(name), version: v1}}
                  - {address: 10.\(index % 250).\(index / 250 % 250).2, ports: {http: 8080}, labels: {app: \(name), version: v2}}
                """
        default:
            return """
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata:
                  name: \(name)
                  namespace: \(namespace)
                spec:
                  selector:
                    matchLabels: {app: \(name)}
                  action: ALLOW
                  rules:
                  - from:
                    - source:
                        principals: [cluster.local/ns/\(namespace)/sa/frontend]
                        ipBlocks: [10.0.0.0/8]
                    to:
                    - operation: {methods: [GET, POST], paths: [/api/*]}
                """
        }
    }

    /// Writes the corpus as 100 files, as a repository of config would hold it.
    static func write(count: Int, into directory: URL) throws -> Int {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let perFile = max(1, count / 100)
        var bytes = 0
        for file in 0..<(count + perFile - 1) / perFile {
            let range = (file * perFile)..<min(count, (file + 1) * perFile)
            let text = range.map(resource).joined(separator: "\n---\n") + "\n"
            bytes += text.utf8.count
            try text.write(to: directory.appendingPathComponent("config-\(file).yaml"), atomically: true, encoding: .utf8)
        }
        return bytes
    }
}

/// Parses `data` with libyaml and counts its events, building nothing.
func libyamlEventCount(_ data: Data) -> Int {
    var parser = yaml_parser_t()
    guard yaml_parser_initialize(&parser) == 1 else { return 0 }
    defer { yaml_parser_delete(&parser) }
    let bytes = [UInt8](data)
    return bytes.withUnsafeBufferPointer { buffer in
        yaml_parser_set_input_string(&parser, buffer.baseAddress, buffer.count)
        var event = yaml_event_t()
        var count = 0
        while yaml_parser_parse(&parser, &event) == 1 {
            let done = event.type == YAML_STREAM_END_EVENT
            yaml_event_delete(&event)
            count += 1
            if done { break }
        }
        return count
    }
}

func memoryKiB(_ field: String) -> Int {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
    for line in status.split(separator: "\n") where line.hasPrefix(field + ":") {
        return Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "") ?? 0
    }
    return 0
}

func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
}

let options = Options(arguments: CommandLine.arguments)
let directory = FileManager.default.temporaryDirectory.appendingPathComponent("swiftmesh-validate-bench-\(getpid())")
defer { try? FileManager.default.removeItem(at: directory) }
let bytes = try Corpus.write(count: options.resources, into: directory)
let rssBefore = memoryKiB("VmRSS")

print("command: \(CommandLine.arguments.joined(separator: " "))")
print("swiftmesh \(SwiftMeshVersion.current); corpus: \(options.resources) resources, 100 files, \(bytes / 1024) KiB; rounds: \(options.rounds)")

var validateSeconds: [Double] = []
var parseSeconds: [Double] = []
var composeSeconds: [Double] = []
var loadSeconds: [Double] = []

func seconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
}
var lastReport: ValidationReport?
let clock = ContinuousClock()
let files = try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted().map { directory.appendingPathComponent($0).path }
for round in 1...options.rounds {
    // Interleaved: the machine's noise hits both measurements alike.
    lastReport = nil  // only one round's resources are alive at a time
    let validateStart = clock.now
    let report = ValidationReport.validate(ConfigInput.read(paths: [directory.path]).inputs)
    let validateTime = clock.now - validateStart
    lastReport = report

    // Phases, each including the ones before it: read and compose located nodes, then decode.
    let composeStart = clock.now
    let reader = ConfigDocumentReader()
    for file in files { _ = reader.read(try Data(contentsOf: URL(fileURLWithPath: file)), file: file) }
    composeSeconds.append(seconds(clock.now - composeStart))
    let loadStart = clock.now
    _ = ConfigLoader().load(ConfigInput.read(paths: [directory.path]).inputs)
    loadSeconds.append(seconds(clock.now - loadStart))

    let parseStart = clock.now
    var nodes = 0
    for file in files {
        nodes += libyamlEventCount(try Data(contentsOf: URL(fileURLWithPath: file)))
    }
    let parseTime = clock.now - parseStart

    let v = seconds(validateTime)
    let p = seconds(parseTime)
    validateSeconds.append(v)
    parseSeconds.append(p)
    print(String(format: "round %d: validate %.3f s (%d resources, %d errors, %d warnings), libyaml event scan %.3f s (%d events)",
                 round, v, report.resources.count, report.errorCount, report.warningCount, p, nodes))
}

let peakKiB = memoryKiB("VmHWM")
let validateMedian = median(validateSeconds)
let parseMedian = median(parseSeconds)
print("")
print("| measurement | median | per resource | ratio to libyaml event scan |")
print("| --- | --- | --- | --- |")
print(String(format: "| meshctl validate (read, decode, validate) | %.3f s | %.1f µs | %.2f× |", validateMedian, validateMedian / Double(options.resources) * 1e6, validateMedian / parseMedian))
print(String(format: "| libyaml event scan (nothing built) | %.3f s | %.1f µs | 1.00× |", parseMedian, parseMedian / Double(options.resources) * 1e6))
print("")
print("phases (each includes the ones above it):")
print("| phase | median | ratio to libyaml event scan |")
print("| --- | --- | --- |")
for (name, values) in [("read + compose located nodes", composeSeconds), ("+ decode into typed resources", loadSeconds), ("+ validate every rule, cross-checks", validateSeconds)] {
    print(String(format: "| %@ | %.3f s | %.2f× |", name, median(values), median(values) / parseMedian))
}
print("peak RSS (VmHWM): \(peakKiB / 1024) MiB (RSS before the rounds: \(rssBefore / 1024) MiB)")

struct Result: Encodable {
    var resources: Int
    var corpusBytes: Int
    var rounds: Int
    var validateSeconds: [Double]
    var parseSeconds: [Double]
    var composeSeconds: [Double]
    var loadSeconds: [Double]
    var validateMedianSeconds: Double
    var parseMedianSeconds: Double
    var ratioToParse: Double
    var peakRSSKiB: Int
    var errorsFound: Int
    var warningsFound: Int
}
let result = Result(resources: options.resources, corpusBytes: bytes, rounds: options.rounds, validateSeconds: validateSeconds,
                    parseSeconds: parseSeconds, composeSeconds: composeSeconds, loadSeconds: loadSeconds, validateMedianSeconds: validateMedian, parseMedianSeconds: parseMedian,
                    ratioToParse: validateMedian / parseMedian, peakRSSKiB: peakKiB, errorsFound: lastReport?.errorCount ?? -1, warningsFound: lastReport?.warningCount ?? -1)
let encoder = JSONEncoder()
encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
let jsonURL = URL(fileURLWithPath: options.jsonPath)
try? FileManager.default.createDirectory(at: jsonURL.deletingLastPathComponent(), withIntermediateDirectories: true)
try encoder.encode(result).write(to: jsonURL)
print("wrote \(options.jsonPath)")
