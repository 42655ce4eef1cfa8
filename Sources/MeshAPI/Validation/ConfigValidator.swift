// The validator's entry point: per-resource rules for every kind, then checks across resources.

import Foundation

/// Validates Istio resources with Istio's semantics.
public struct ConfigValidator: Sendable {
    public init() {}

    /// Diagnostics for one resource, on its own.
    public func validate(_ resource: MeshResource) -> [Diagnostic] {
        var context = ValidationContext(resource: resource)
        context.metadata()
        switch resource.spec {
        case .virtualService(let spec): context.validate(spec)
        case .destinationRule(let spec): context.validate(spec)
        case .gateway(let spec): context.validate(spec)
        case .serviceEntry(let spec): context.validate(spec)
        case .workloadEntry(let spec): context.workloadEntry(FieldPath.root / "spec", spec, allowHostName: true, servicePorts: nil)
        case .workloadGroup(let spec): context.validate(spec)
        case .sidecar(let spec): context.validate(spec)
        case .peerAuthentication(let spec): context.validate(spec)
        case .requestAuthentication(let spec): context.validate(spec)
        case .authorizationPolicy(let spec): context.validate(spec)
        case .telemetry(let spec): context.validate(spec)
        }
        return context.diagnostics
    }

    /// Validates a loaded set: each resource, then the set as a whole (duplicates, references).
    /// Problems already reported while decoding are not reported again.
    public func validate(_ loaded: [LoadedResource]) -> [Diagnostic] {
        var diagnostics: [Diagnostic] = []
        for entry in loaded {
            let undecoded = entry.undecodedPaths
            let node = entry.resource.source?.node
            diagnostics += validate(entry.resource).filter { diagnostic in
                guard let path = diagnostic.path else { return true }
                return !undecoded.contains { problem in
                    // The field that failed is absent from the value, so rules about it, about
                    // what holds it, or about siblings the user may have meant to write (a
                    // misspelt `hots:` leaves `host` missing) would only repeat the problem.
                    path.isWithin(problem) || problem.isWithin(path)
                        || (path.isWithin(problem.parent) && node?.node(at: path) == nil)
                }
            }
        }
        diagnostics += CrossResourceChecks(resources: loaded.map(\.resource)).run()
        return diagnostics
    }
}

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
        if let namespace = metadata.namespace, !HostNames.isKubernetesLabel(namespace) {
            error(path / "namespace", "namespace \"\(namespace.truncatedForDisplay)\" must be a lower-case DNS-1123 label")
        }
        labels(path / "labels", metadata.labels)
        for key in (metadata.annotations ?? [:]).keys.sorted() {
            check(path / "annotations" / key, Values.labelKeyProblem(key).map { $0.replacingOccurrences(of: "label key", with: "annotation key") })
        }
        if let dryRun = metadata.annotations?["istio.io/dry-run"] {
            if resource.kind != .authorizationPolicy {
                error(path / "annotations" / "istio.io/dry-run", "the istio.io/dry-run annotation is only supported on AuthorizationPolicy")
            } else if !["true", "false"].contains(dryRun.lowercased()) {
                error(path / "annotations" / "istio.io/dry-run", "istio.io/dry-run must be \"true\" or \"false\"")
            }
        }
    }
}
