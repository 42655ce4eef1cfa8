// meshctl proxy-config: what meshd sends one proxy, as tables (istioctl proxy-config's role).

import ArgumentParser
import EmbeddedMesh
import Foundation

struct ProxyConfigCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "proxy-config",
        abstract: "Show a proxy's listeners, routes, clusters, endpoints or secrets as meshd sends them.",
        discussion: """
            PROXY is the proxy's name.namespace (as proxy-status lists it) or its node ID. The data \
            comes from meshd's /debug/config_dump, so it shows what the proxy was sent; \
            `meshctl proxy-status` says whether the proxy accepted it.
            """)

    enum Kind: String, ExpressibleByArgument, CaseIterable {
        case listeners, routes, clusters, endpoints, secrets
        case listener, route, cluster, endpoint, secret
    }

    @Argument(help: "listeners, routes, clusters, endpoints or secrets.")
    var kind: Kind

    @Argument(help: "The proxy: name.namespace or node ID.")
    var proxy: String

    @Option(name: [.customShort("o"), .long], help: "table or json.")
    var output: String = "table"

    @Option(name: .long, help: "meshd's debug address (default: the running mesh's, else 127.0.0.1:15014).")
    var meshd: String?

    @OptionGroup var location: MeshLocation

    func run() throws {
        guard ["table", "json"].contains(output) else { throw ValidationError("--output must be table or json") }
        let address = meshd ?? (try? MeshState.load(runDirectory: location.runDirectory))?.debugAddress ?? "127.0.0.1:15014"
        let query = proxy.addingPercentEncoding(withAllowedCharacters: .urlQueryAllowed.subtracting(CharacterSet(charactersIn: "&=+"))) ?? proxy
        let data: Data
        do {
            data = try ProxyStatusCommand.get("http://\(address)/debug/config_dump?proxyID=\(query)")
        } catch let error as MeshdUnreachable where error.message.contains("HTTP 404") {
            throw CommandFailure("no proxy \(proxy) is connected to meshd at \(address); `meshctl proxy-status` lists them")
        }
        guard let dump = try JSONSerialization.jsonObject(with: data) as? [String: Any], let configs = dump["configs"] as? [[String: Any]] else {
            throw MeshdUnreachable(message: "meshd's config dump for \(proxy) is not Envoy's ConfigDump")
        }
        let section = { (suffix: String) in configs.first { ($0["@type"] as? String)?.hasSuffix(suffix) == true } ?? [:] }
        let plural = kind.rawValue.hasSuffix("s") ? kind.rawValue : kind.rawValue + "s"
        let rows: [[String: Any]]
        switch plural {
        case "clusters": rows = (section("ClustersConfigDump")["dynamicActiveClusters"] as? [[String: Any]] ?? []).compactMap { $0["cluster"] as? [String: Any] }
        case "listeners": rows = (section("ListenersConfigDump")["dynamicListeners"] as? [[String: Any]] ?? []).compactMap { ($0["activeState"] as? [String: Any])?["listener"] as? [String: Any] }
        case "routes": rows = (section("RoutesConfigDump")["dynamicRouteConfigs"] as? [[String: Any]] ?? []).compactMap { $0["routeConfig"] as? [String: Any] }
        case "endpoints": rows = (section("EndpointsConfigDump")["dynamicEndpointConfigs"] as? [[String: Any]] ?? []).compactMap { $0["endpointConfig"] as? [String: Any] }
        default: rows = []
        }
        if output == "json" {
            let json = try JSONSerialization.data(withJSONObject: rows, options: [.prettyPrinted, .sortedKeys])
            print(String(decoding: json, as: UTF8.self))
            return
        }
        switch plural {
        case "clusters": print(Table.render(ProxyConfigTables.clusters(rows)), terminator: "")
        case "listeners": print(Table.render(ProxyConfigTables.listeners(rows)), terminator: "")
        case "routes": print(Table.render(ProxyConfigTables.routes(rows)), terminator: "")
        case "endpoints": print(Table.render(ProxyConfigTables.endpoints(rows)), terminator: "")
        default: print("no secrets: meshd serves no certificates yet (SDS arrives with the mesh CA)")
        }
    }
}

/// The tables istioctl prints, from Envoy's JSON.
enum ProxyConfigTables {
    static func clusters(_ clusters: [[String: Any]]) -> [[String]] {
        var rows = [["SERVICE FQDN", "PORT", "SUBSET", "DIRECTION", "TYPE"]]
        for cluster in clusters {
            let name = cluster["name"] as? String ?? ""
            let parts = name.split(separator: "|", omittingEmptySubsequences: false).map(String.init)
            let type = cluster["type"] as? String ?? "EDS"
            if parts.count == 4 {
                rows.append([parts[3].isEmpty ? "-" : parts[3], parts[1], parts[2].isEmpty ? "-" : parts[2], parts[0], type])
            } else {
                rows.append([name, "-", "-", "-", type])
            }
        }
        return rows
    }

    static func listeners(_ listeners: [[String: Any]]) -> [[String]] {
        var rows = [["NAME", "ADDRESS", "PORT", "DESTINATION"]]
        for listener in listeners {
            let socket = (listener["address"] as? [String: Any])?["socketAddress"] as? [String: Any] ?? [:]
            var destinations: [String] = []
            for chain in listener["filterChains"] as? [[String: Any]] ?? [] {
                for filter in chain["filters"] as? [[String: Any]] ?? [] {
                    let config = filter["typedConfig"] as? [String: Any] ?? [:]
                    if let rds = config["rds"] as? [String: Any], let name = rds["routeConfigName"] as? String {
                        destinations.append("Route: \(name)")
                    } else if config["routeConfig"] != nil {
                        destinations.append("Inline Route: \((config["routeConfig"] as? [String: Any])?["name"] as? String ?? "")")
                    } else if let cluster = config["cluster"] as? String {
                        destinations.append("Cluster: \(cluster)")
                    } else if let weighted = (config["weightedClusters"] as? [String: Any])?["clusters"] as? [[String: Any]] {
                        destinations.append("Clusters: " + weighted.compactMap { $0["name"] as? String }.joined(separator: ", "))
                    }
                }
            }
            rows.append([listener["name"] as? String ?? "", socket["address"] as? String ?? "", "\(socket["portValue"] ?? "")",
                         Array(Set(destinations)).sorted().joined(separator: "; ")])
        }
        return rows
    }

    static func routes(_ configs: [[String: Any]]) -> [[String]] {
        var rows = [["NAME", "VIRTUAL HOST", "DOMAINS", "MATCH", "DESTINATION"]]
        for config in configs {
            let name = config["name"] as? String ?? ""
            for host in config["virtualHosts"] as? [[String: Any]] ?? [] {
                let domains = host["domains"] as? [String] ?? []
                let shownDomains = domains.first.map { domains.count > 1 ? "\($0) +\(domains.count - 1) more" : $0 } ?? ""
                for route in host["routes"] as? [[String: Any]] ?? [] {
                    rows.append([name, host["name"] as? String ?? "", shownDomains, match(route["match"] as? [String: Any] ?? [:]), destination(route)])
                }
            }
        }
        return rows
    }

    static func match(_ match: [String: Any]) -> String {
        var parts: [String] = []
        if let prefix = match["prefix"] as? String { parts.append(prefix == "/" ? "/*" : "\(prefix)*") }
        if let path = match["path"] as? String { parts.append(path) }
        if let regex = (match["safeRegex"] as? [String: Any])?["regex"] as? String { parts.append("regex \(regex)") }
        for header in match["headers"] as? [[String: Any]] ?? [] { parts.append("header \(header["name"] as? String ?? "")") }
        return parts.joined(separator: ", ")
    }

    static func destination(_ route: [String: Any]) -> String {
        if let action = route["route"] as? [String: Any] {
            if let cluster = action["cluster"] as? String { return cluster }
            if let weighted = (action["weightedClusters"] as? [String: Any])?["clusters"] as? [[String: Any]] {
                return weighted.map { "\($0["name"] as? String ?? "") \($0["weight"] ?? "")%" }.joined(separator: ", ")
            }
        }
        if route["redirect"] != nil { return "redirect" }
        if let direct = route["directResponse"] as? [String: Any] { return "direct response \(direct["status"] ?? "")" }
        return "-"
    }

    static func endpoints(_ assignments: [[String: Any]]) -> [[String]] {
        var rows = [["ENDPOINT", "CLUSTER", "LOCALITY", "PRIORITY", "WEIGHT"]]
        for assignment in assignments {
            let cluster = assignment["clusterName"] as? String ?? ""
            let groups = assignment["endpoints"] as? [[String: Any]] ?? []
            if groups.isEmpty { rows.append(["(none)", cluster, "-", "-", "-"]) }
            for group in groups {
                let locality = group["locality"] as? [String: Any] ?? [:]
                let where_ = [locality["region"], locality["zone"], locality["subZone"]].compactMap { $0 as? String }.joined(separator: "/")
                for endpoint in group["lbEndpoints"] as? [[String: Any]] ?? [] {
                    let socket = (((endpoint["endpoint"] as? [String: Any])?["address"] as? [String: Any])?["socketAddress"] as? [String: Any]) ?? [:]
                    rows.append(["\(socket["address"] ?? ""):\(socket["portValue"] ?? "")", cluster, where_.isEmpty ? "-" : where_,
                                 "\(group["priority"] ?? 0)", "\(endpoint["loadBalancingWeight"] ?? 1)"])
                }
            }
        }
        return rows
    }
}
