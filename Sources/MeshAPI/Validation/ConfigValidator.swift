// The validator's entry point: per-resource rules for every kind, then checks across resources.

import Foundation

/// Validates Istio resources with Istio's semantics.
public struct ConfigValidator: Sendable {
    /// When given, references to its extension providers are checked.
    public var meshConfig: MeshConfig?

    public init(meshConfig: MeshConfig? = nil) {
        self.meshConfig = meshConfig
    }

    /// Diagnostics for one resource, on its own.
    public func validate(_ resource: MeshResource) -> [Diagnostic] {
        var context = ValidationContext(resource: resource)
        context.metadata()
        switch resource.spec {
        case .virtualService(let spec): context.validate(spec)
        case .destinationRule(let spec): context.validate(spec)
        case .gateway(let spec): context.validate(spec)
        case .serviceEntry(let spec): context.validate(spec)
        case .workloadEntry(let spec): context.workloadEntry(.spec, spec, allowHostName: true, servicePorts: nil)
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
    /// Consequences of a problem already reported while decoding are not reported again.
    public func validate(_ loaded: [LoadedResource]) -> [Diagnostic] {
        var diagnostics: [Diagnostic] = []
        for entry in loaded {
            diagnostics += validate(entry.resource).filter { diagnostic in
                guard let path = diagnostic.path else { return true }
                return !entry.decodingProblems.contains { Self.isConsequence(path, of: $0) }
            }
        }
        diagnostics += CrossResourceChecks(resources: loaded.map(\.resource), meshConfig: meshConfig).run()
        return diagnostics
    }

    /// Whether a rule's complaint at `path` only restates a decoding problem.
    static func isConsequence(_ path: FieldPath, of problem: DecodingProblem) -> Bool {
        // Inside the field that failed: it is absent, so nothing in it can be judged.
        if path.isWithin(problem.path) { return true }
        // The field holding it, where its absence is the complaint ("a route needs a destination").
        let holder = problem.path.parent
        if path == holder { return true }
        if case .index = holder.components.last, path == holder.parent { return true }
        // The field a misspelt key meant (`hots` for `host`), which is otherwise reported missing.
        if let meant = problem.suggestedField, path.isWithin(holder / meant) { return true }
        return false
    }
}
