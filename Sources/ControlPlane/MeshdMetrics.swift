// meshd's /metrics: its own health in Prometheus text format, with istiod's metric names.

import Foundation
import MeshModel
import XDS

/// The Prometheus exposition of meshd's counters. Names are istiod's where istiod has the same
/// measure (connected proxies `pilot_xds`, pushes and rejections per type, convergence time,
/// CSRs), with `_total` on counters as Prometheus' conventions (and `promtool check metrics`)
/// want; plus what meshd's config source knows.
enum MeshdMetrics {
    static func render(server: DiscoveryServer, status: DaemonStatus, certificates: CertificateCounters?) async -> String {
        var text = PrometheusText()
        let connected = await server.connectedProxies
        let snapshot = await server.snapshot
        let counters = await server.counters
        let xds = server.metrics.current

        text.family("pilot_xds", .gauge, "Proxies connected to this meshd over ADS.")
        for protocolName in ["GRPC", "DELTA_GRPC"] {
            text.sample("pilot_xds", ["protocol": protocolName], Double(connected.filter { $0.current.protocolName == protocolName }.count))
        }
        text.family("pilot_xds_pushes_total", .counter, "xDS responses sent, by type.")
        for type in ["cds", "eds", "lds", "rds"] { text.sample("pilot_xds_pushes_total", ["type": type], Double(xds.pushes[type] ?? 0)) }
        text.family("pilot_total_xds_rejects_total", .counter, "xDS responses proxies rejected (NACKs), by type.")
        for type in ["cds", "eds", "lds", "rds"] { text.sample("pilot_total_xds_rejects_total", ["type": type], Double(xds.rejects[type] ?? 0)) }
        text.family("pilot_proxy_convergence_time", .histogram, "Seconds from a new snapshot's publication to its push to a proxy.")
        for (index, bound) in XDSMetrics.convergenceBuckets.enumerated() {
            text.sample("pilot_proxy_convergence_time_bucket", ["le": PrometheusText.number(bound)], Double(xds.convergenceBucketCounts[index]))
        }
        text.sample("pilot_proxy_convergence_time_bucket", ["le": "+Inf"], Double(xds.convergenceCount))
        text.sample("pilot_proxy_convergence_time_sum", [:], xds.convergenceSum)
        text.sample("pilot_proxy_convergence_time_count", [:], Double(xds.convergenceCount))
        text.family("meshd_xds_rejected_streams_total", .counter, "ADS streams refused (no node, or a node ID meshd cannot read).")
        text.sample("meshd_xds_rejected_streams_total", [:], Double(counters.rejectedStreams))

        text.family("meshd_config_snapshots_total", .counter, "Snapshots published to proxies.")
        text.sample("meshd_config_snapshots_total", [:], Double(counters.snapshotsPublished))
        text.family("meshd_config_version", .gauge, "The version of the snapshot in force.")
        text.sample("meshd_config_version", [:], Double(snapshot.version))
        text.family("meshd_config_resources", .gauge, "Resources in force, by kind.")
        for kind in ResourceKindNames.all { text.sample("meshd_config_resources", ["kind": kind], Double(snapshot.resources.values.filter { $0.kind.rawValue == kind }.count)) }
        text.family("meshd_config_rejected_resources", .gauge, "Inputs that are invalid now (their last valid version, if any, keeps serving).")
        text.sample("meshd_config_rejected_resources", [:], Double(snapshot.rejected.count))
        text.family("meshd_config_source_problems", .gauge, "Files that cannot be read, and MeshConfig problems.")
        text.sample("meshd_config_source_problems", [:], Double(status.problems.count))

        if let certificates {
            let counts = certificates.current
            text.family("citadel_server_csrs_total", .counter, "CSRs received by the CA.")
            text.sample("citadel_server_csrs_total", [:], Double(counts.issued + counts.refused))
            text.family("citadel_server_success_cert_issuances_total", .counter, "Certificates issued.")
            text.sample("citadel_server_success_cert_issuances_total", [:], Double(counts.issued))
            text.family("meshd_ca_refused_csrs_total", .counter, "CSRs refused (credentials, identity or the CSR itself).")
            text.sample("meshd_ca_refused_csrs_total", [:], Double(counts.refused))
        }
        return text.output
    }
}

import MeshAPI

enum ResourceKindNames {
    static var all: [String] { ResourceKind.allCases.map(\.rawValue) }
}

/// Prometheus text exposition format 0.0.4: HELP and TYPE per family, escaped label values.
struct PrometheusText {
    enum Kind: String { case counter, gauge, histogram }

    private(set) var output = ""

    mutating func family(_ name: String, _ kind: Kind, _ help: String) {
        output += "# HELP \(name) \(help)\n# TYPE \(name) \(kind.rawValue)\n"
    }

    mutating func sample(_ name: String, _ labels: [String: String], _ value: Double) {
        let rendered = labels.sorted { $0.key < $1.key }.map { "\($0.key)=\"\(Self.escape($0.value))\"" }.joined(separator: ",")
        output += labels.isEmpty ? "\(name) \(Self.number(value))\n" : "\(name){\(rendered)} \(Self.number(value))\n"
    }

    static func escape(_ value: String) -> String {
        value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"").replacingOccurrences(of: "\n", with: "\\n")
    }

    static func number(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : String(value)
    }
}
