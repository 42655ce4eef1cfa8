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
            let found = validate(entry.resource)
            if entry.decodingProblems.isEmpty {
                diagnostics += found
                continue
            }
            let consequences = DecodingConsequences(entry.decodingProblems, node: entry.resource.source?.node)
            diagnostics += found.filter { diagnostic in diagnostic.path.map { !consequences.contain($0) } ?? true }
        }
        diagnostics += CrossResourceChecks(resources: loaded.map(\.resource), meshConfig: meshConfig).run()
        return diagnostics
    }
}

/// The places where a rule's complaint would only restate a problem met while decoding.
struct DecodingConsequences {
    /// Fields whose value failed to decode, and fields a misspelt key meant: absent, so
    /// nothing in them can be judged.
    private var absent: Set<FieldPath> = []
    /// Fields holding such an absent field, where its absence is the complaint ("a route
    /// needs a destination").
    private var holders: Set<FieldPath> = []

    init(_ problems: [DecodingProblem], node: ConfigNode?) {
        for problem in problems {
            if problem.isUnknownField {
                // `hots: x` leaves `host` missing; but if `host` is written too, its own
                // problems are real.
                guard let meant = problem.suggestedField else { continue }
                let meantPath = problem.path.parent / meant
                if node?.node(at: meantPath) == nil {
                    absent.insert(meantPath)
                    holders.insert(problem.path.parent)
                }
            } else {
                absent.insert(problem.path)
                holders.insert(problem.path.parent)
                // Checks over a whole list (weights adding up) depend on every item.
                if case .index = problem.path.parent.components.last { holders.insert(problem.path.parent.parent) }
            }
        }
    }

    func contain(_ path: FieldPath) -> Bool {
        if holders.contains(path) { return true }
        var current = path
        while true {
            if absent.contains(current) { return true }
            if current.components.isEmpty { return false }
            current = current.parent
        }
    }
}
