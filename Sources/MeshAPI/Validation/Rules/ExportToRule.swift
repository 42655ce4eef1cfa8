// `exportTo`: which namespaces see a resource.

enum ExportToRule {
    /// Entries are `.`, `*`, `~` (ServiceEntry only) or a namespace; `*` and `~` stand alone.
    static func problems(_ entries: [String], namespace: String, allowNone: Bool) -> [(Int, String)] {
        var problems: [(Int, String)] = []
        var seen: Set<String> = []
        var rejected = false
        for (index, entry) in entries.enumerated() {
            if entry == "~" && !allowNone {
                problems.append((index, "exportTo \"~\" (no one) is only allowed in ServiceEntry"))
                rejected = true
            } else if entry != "." && entry != "*" && entry != "~" && !HostNames.isKubernetesLabel(entry) {
                problems.append((index, "exportTo entry \"\(entry.truncatedForDisplay)\" must be \".\", \"*\"\(allowNone ? ", \"~\"" : "") or a namespace name"))
            }
            let normalized = entry == "." ? namespace : entry
            if !seen.insert(normalized).inserted {
                problems.append((index, "duplicate exportTo entry \"\(entry)\"" + (entry == "." || entry == namespace ? " (\".\" is the resource's own namespace \(namespace))" : "")))
            }
        }
        if entries.contains("*") && entries.count > 1 {
            problems.append((entries.firstIndex(of: "*") ?? 0, "exportTo \"*\" (everyone) cannot be combined with other entries"))
        }
        if entries.contains("~") && entries.count > 1 && !rejected {
            problems.append((entries.firstIndex(of: "~") ?? 0, "exportTo \"~\" (no one) cannot be combined with other entries"))
        }
        return problems
    }
}

extension ValidationContext {
    mutating func exportTo(_ entries: [String]?, allowNone: Bool = false) {
        guard let entries else { return }
        for (index, problem) in ExportToRule.problems(entries, namespace: resource.namespace, allowNone: allowNone) {
            error(spec / "exportTo" / index, problem)
        }
    }
}
