// Labels, workload selectors and policy target references.

extension ValidationContext {
    mutating func labels(_ path: FieldPath, _ labels: [String: String]?) {
        for (key, value) in (labels ?? [:]).sorted(by: { $0.key < $1.key }) {
            check(path / key, LabelRule.keyProblem(key))
            check(path / key, LabelRule.valueProblem(value))
        }
    }

    /// `matchLabels`/`labels` of a workload selector: no empty keys or wildcards.
    mutating func selectorLabels(_ path: FieldPath, _ labels: [String: String]?) {
        guard let labels else { return }
        if labels.isEmpty {
            warning(path, "workload selector has no labels, so it selects every workload in the namespace")
        }
        for (key, value) in labels.sorted(by: { $0.key < $1.key }) {
            if key.isEmpty {
                error(path, "selector label keys must not be empty")
                continue
            }
            if key.contains("*") || value.contains("*") {
                error(path / key, "wildcards are not supported in selectors (\"\(key)=\(value)\")")
            } else {
                check(path / key, LabelRule.keyProblem(key))
                check(path / key, LabelRule.valueProblem(value))
            }
        }
    }

    /// `selector`, `targetRef`, `targetRefs`: at most one, and references well-formed.
    mutating func policyTarget(selector: LabelSelector?, targetRef: PolicyTargetReference?, targetRefs: [PolicyTargetReference]?) {
        let set = [selector != nil ? "selector" : nil, targetRef != nil ? "targetRef" : nil,
                   (targetRefs?.isEmpty == false) ? "targetRefs" : nil].compactMap { $0 }
        if set.count > 1 {
            error(spec / set[1], "only one of selector, targetRef and targetRefs may be set (found \(set.joined(separator: " and ")))")
        }
        selectorLabels(spec / "selector" / "matchLabels", selector?.matchLabels)
        if let selector, selector.matchLabels == nil {
            warning(spec / "selector", "workload selector has no labels, so it selects every workload in the namespace")
        }
        var references: [(FieldPath, PolicyTargetReference)] = []
        if let targetRef { references.append((spec / "targetRef", targetRef)) }
        for (index, reference) in (targetRefs ?? []).enumerated() { references.append((spec / "targetRefs" / index, reference)) }
        if (targetRefs?.count ?? 0) > 16 { error(spec / "targetRefs", "at most 16 targetRefs may be given") }
        let supported: [(String, String)] = [("", "Service"), ("networking.istio.io", "ServiceEntry"),
                                              ("gateway.networking.k8s.io", "Gateway"), ("gateway.networking.k8s.io", "GatewayClass")]
        for (path, reference) in references {
            if (reference.name ?? "").isEmpty { error(path / "name", "targetRef name must be set") }
            if let namespace = reference.namespace, !namespace.isEmpty {
                error(path / "namespace", "targetRef namespace must not be set; cross-namespace references are not supported")
            }
            let group = reference.group ?? ""
            let kind = reference.kind ?? ""
            if !supported.contains(where: { $0.0 == group && $0.1 == kind }) {
                error(path / "kind", "targetRef must refer to a Service, ServiceEntry (networking.istio.io), Gateway or GatewayClass (gateway.networking.k8s.io); found \(group.isEmpty ? "core" : group)/\(kind)")
            }
        }
    }
}
