// meshd's debug API: sync state per proxy, what each proxy is sent, config and registry in force.

import ConfigGen
import Foundation
import MeshAPI
import MeshModel
import TextHTTP
import XDS
import XDSClient

/// The pages of the debug API, computed from the discovery server's state on each request.
public struct DebugEndpoints: Sendable {
    let server: DiscoveryServer
    let status: DaemonStatus
    let certificates: CertificateCounters?

    public init(server: DiscoveryServer, status: DaemonStatus, certificates: CertificateCounters? = nil) {
        self.server = server
        self.status = status
        self.certificates = certificates
    }

    public func respond(path: String, query: [String: String]) async -> TextResponse {
        switch path {
        case "/ready":
            return status.isReady ? TextResponse(contentType: "text/plain", body: "ready\n")
                : TextResponse(status: .serviceUnavailable, contentType: "text/plain", body: "not ready: the first configuration is not loaded\n")
        case "/debug/syncz": return json(await syncz())
        case "/debug/configz": return json(await configz())
        case "/debug/registryz": return json(await registryz())
        case "/debug/config_dump": return await configDump(proxyID: query["proxyID"])
        case "/metrics":
            return TextResponse(contentType: "text/plain; version=0.0.4",
                                 body: await MeshdMetrics.render(server: server, status: status, certificates: certificates))
        case "/debug", "/debug/":
            return TextResponse(contentType: "text/plain", body: """
                /ready                           200 once the first configuration is served
                /debug/syncz                     per proxy and type: version sent, version acknowledged, NACK
                /debug/config_dump?proxyID=ID    what meshd sends that proxy (Envoy's ConfigDump JSON)
                /debug/configz                   resources in force and rejected inputs with their errors
                /debug/registryz                 services, endpoints and workloads
                /metrics                         meshd's own metrics (Prometheus text; istiod's names)

                """)
        default:
            return TextResponse(status: .notFound, contentType: "text/plain", body: "no debug page \(path); see /debug\n")
        }
    }

    /// Istio's syncz fields (`cluster_sent`, `cluster_acked`, ...) plus states and NACK messages.
    func syncz() async -> [[String: Any]] {
        var rows: [[String: Any]] = []
        for connection in await server.connectedProxies {
            let state = connection.current
            var row: [String: Any] = [
                "proxy": connection.identity.nodeID.description,
                "proxy_type": connection.identity.nodeID.type.rawValue,
                "protocol": state.protocolName,
                "connected_at": ISO8601DateFormatter().string(from: state.connectedAt),
                "snapshot_version": state.snapshotVersion,
                "nacks": state.nacks,
            ]
            if let error = state.generationError { row["generation_error"] = error }
            for type in ResourceType.allCases {
                let prefix = ["CDS": "cluster", "EDS": "endpoint", "LDS": "listener", "RDS": "route"][type.shortName]!
                let status = state.types[type] ?? TypeStatus()
                row["\(prefix)_sent"] = status.sentVersion ?? ""
                row["\(prefix)_acked"] = status.ackedVersion ?? ""
                row["\(prefix)_state"] = status.state
                if let nack = status.nackMessage { row["\(prefix)_nack"] = nack }
            }
            rows.append(row)
        }
        return rows
    }

    func configz() async -> [String: Any] {
        let snapshot = await server.snapshot
        let resources = snapshot.resources.values.sorted { ($0.kind.rawValue, $0.namespace, $0.name) < ($1.kind.rawValue, $1.namespace, $1.name) }
        let rejected = snapshot.rejected.keys.sorted { $0.description < $1.description }
        return [
            "version": snapshot.version,
            "root_namespace": snapshot.meshConfig.effectiveRootNamespace,
            "resources": resources.map { resource -> [String: Any] in
                var entry: [String: Any] = ["kind": resource.kind.rawValue, "namespace": resource.namespace, "name": resource.name]
                if let source = resource.source { entry["source"] = source.location(of: .root).description }
                if snapshot.rejected[resource.reference] != nil { entry["serving"] = "last valid version" }
                return entry
            },
            "rejected": rejected.map { key -> [String: Any] in
                ["resource": key.description, "serving_last_valid": snapshot.resources[key] != nil,
                 "errors": (snapshot.rejected[key] ?? []).map(\.description)]
            },
            "problems": status.problems,
        ]
    }

    func registryz() async -> [String: Any] {
        let registry = await server.snapshot.registry
        return [
            "services": registry.services.map { service -> [String: Any] in
                [
                    "hostname": service.hostname, "namespace": service.namespace,
                    "ports": service.ports.map { ["name": $0.name, "number": $0.number, "protocol": $0.protocolName, "targetPort": $0.targetPort] },
                    "location": service.location.rawValue, "resolution": service.resolution.rawValue,
                    "addresses": service.addresses, "exportTo": service.exportTo,
                    "endpoints": (registry.endpoints[service.hostname] ?? []).map { endpoint -> [String: Any] in
                        var entry: [String: Any] = [
                            "servicePort": endpoint.servicePort, "address": endpoint.address, "port": endpoint.port,
                            "labels": endpoint.labels, "weight": endpoint.weight,
                        ]
                        if let account = endpoint.serviceAccount { entry["serviceAccount"] = account }
                        if let locality = endpoint.locality { entry["locality"] = locality }
                        if let workload = endpoint.workload { entry["workload"] = workload.description }
                        return entry
                    },
                ]
            },
            "workloads": registry.workloads.map { workload -> [String: Any] in
                var entry: [String: Any] = [
                    "name": workload.name, "namespace": workload.namespace, "address": workload.address,
                    "labels": workload.labels, "serviceAccount": workload.serviceAccount, "weight": workload.weight,
                ]
                if let locality = workload.locality { entry["locality"] = locality }
                return entry
            },
        ]
    }

    func configDump(proxyID: String?) async -> TextResponse {
        guard let proxyID, !proxyID.isEmpty else {
            return TextResponse(status: .badRequest, contentType: "text/plain", body: "config_dump needs ?proxyID=<node ID or its name.namespace>\n")
        }
        let connections = await server.connectedProxies
        guard let connection = connections.first(where: {
            $0.identity.nodeID.description == proxyID || "\($0.identity.nodeID.name).\($0.identity.nodeID.namespace)" == proxyID
        }) else {
            return TextResponse(status: .notFound, contentType: "text/plain", body: "no connected proxy \(proxyID)\n")
        }
        do {
            return TextResponse(body: try ProtoJSON.pretty(try ProxyConfigDump.make(connection.current)))
        } catch {
            return TextResponse(status: .internalServerError, contentType: "text/plain", body: "config_dump of \(proxyID) failed: \(error)\n")
        }
    }

    private func json(_ object: Any) -> TextResponse {
        guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]) else {
            return TextResponse(status: .internalServerError, contentType: "text/plain", body: "cannot encode the page\n")
        }
        return TextResponse(body: String(decoding: data, as: UTF8.self) + "\n")
    }
}
