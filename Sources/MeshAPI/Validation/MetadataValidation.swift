// Rules for every resource's Kubernetes metadata: names, namespaces, labels, annotations.

import Foundation

extension ValidationContext {
    mutating func metadata() {
        let path = FieldPath.root / "metadata"
        let metadata = resource.metadata
        if let name = metadata.name, !name.isEmpty {
            if !HostNames.isDNS1123Subdomain(name) {
                error(path / "name", "name \"\(name.truncatedForDisplay)\" must be a lower-case DNS-1123 name (letters, digits, '-', '.')")
            }
        } else if (metadata.generateName ?? "").isEmpty {
            error(path / "name", "metadata.name is required")
        }
        if let namespace = metadata.namespace, !namespace.isEmpty, !HostNames.isKubernetesLabel(namespace) {
            error(path / "namespace", "namespace \"\(namespace.truncatedForDisplay)\" must be a lower-case DNS-1123 label")
        }
        labels(path / "labels", metadata.labels)
        for key in (metadata.annotations ?? [:]).keys.sorted() {
            check(path / "annotations" / key, LabelRule.keyProblem(key).map { $0.replacingOccurrences(of: "label key", with: "annotation key") })
        }
        if let dryRun = metadata.annotations?["istio.io/dry-run"] {
            let annotation = path / "annotations" / "istio.io/dry-run"
            guard case .authorizationPolicy(let policy) = resource.spec else {
                return error(annotation, "the istio.io/dry-run annotation is only supported on AuthorizationPolicy")
            }
            // Istio reads the value as Go's strconv.ParseBool does.
            if !["1", "t", "T", "TRUE", "true", "True", "0", "f", "F", "FALSE", "false", "False"].contains(dryRun) {
                error(annotation, "istio.io/dry-run must be \"true\" or \"false\", not \"\(dryRun.truncatedForDisplay)\"")
            }
            let action = policy.action ?? .ALLOW
            if action != .ALLOW && action != .DENY {
                error(annotation, "istio.io/dry-run only works with action ALLOW or DENY (action is \(action.rawValue))")
            }
        }
    }
}
