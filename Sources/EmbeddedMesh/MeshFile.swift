// `meshctl up`'s description of a user's workloads: mesh.yaml.

import Foundation
import MeshAPI

/// ```yaml
/// workloads:
/// - name: hello-v1            # unique; also the sidecar's name
///   service: hello            # callers use hello:<port>
///   namespace: default        # optional
///   labels: {version: v1}     # optional (app: <service> is added)
///   serviceAccount: hello     # optional (default: the service)
///   port: 8080                # optional: the service port (default 9080)
///   protocol: HTTP            # optional (default HTTP)
///   command: [python3, -m, http.server, "{port}", --bind, 127.0.0.1]
///   env: {UPSTREAM: "{egress}"}   # optional; {egress} is the sidecar's egress address
///   metricsPath: /metrics     # optional: the app's Prometheus metrics, merged into the sidecar's :15020
/// ```
/// `{port}` in the command is the port the app must listen on (on 127.0.0.1).
public struct MeshFile: Decodable, Sendable {
    public struct Workload: Decodable, Sendable {
        var name: String
        var service: String
        var namespace: String?
        var labels: [String: String]?
        var serviceAccount: String?
        var port: Int?
        var `protocol`: String?
        var command: [String]
        var env: [String: String]?
        var metricsPath: String?
    }

    public var workloads: [Workload]

    /// The workloads of `path`; errors name the file, line and field.
    public static func load(_ path: String) throws -> [WorkloadSpec] {
        guard let data = FileManager.default.contents(atPath: path) else { throw MeshRunError("\(path): cannot read it") }
        let (documents, diagnostics) = ConfigDocumentReader().read(data, file: path)
        if let problem = diagnostics.first(where: { $0.severity == .error }) { throw MeshRunError(problem.description) }
        guard let root = documents.first?.root else { throw MeshRunError("\(path): empty; it needs `workloads:`") }
        let (value, problems) = ConfigNodeDecoder().decode(MeshFile.self, from: root)
        if let problem = problems.first { throw MeshRunError("\(problem.location): \(problem.path): \(problem.message)") }
        guard let file = value, !file.workloads.isEmpty else { throw MeshRunError("\(path): `workloads:` lists no workload") }
        var names: Set<String> = []
        return try file.workloads.enumerated().map { index, workload in
            guard names.insert(workload.name).inserted else { throw MeshRunError("\(path): workloads[\(index)]: the name \(workload.name) is used twice") }
            guard !workload.command.isEmpty else { throw MeshRunError("\(path): workloads[\(index)].command is empty") }
            if let path = workload.metricsPath, !path.hasPrefix("/") {
                throw MeshRunError("\(path): workloads[\(index)].metricsPath must start with /, got \(path)")
            }
            return WorkloadSpec(name: workload.name, namespace: workload.namespace ?? "default", service: workload.service,
                                labels: workload.labels ?? [:], serviceAccount: workload.serviceAccount, port: workload.port ?? 9080,
                                protocolName: workload.protocol?.uppercased() ?? "HTTP", command: workload.command, environment: workload.env ?? [:],
                                metricsPath: workload.metricsPath)
        }
    }
}
