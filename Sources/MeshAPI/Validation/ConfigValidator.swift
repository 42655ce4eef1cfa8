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
        validateEach(loaded) + validateAcross(loaded)
    }

    /// Every resource on its own; each resource's diagnostics depend on nothing else, so a
    /// watcher may keep them while the resource's file is unchanged.
    func validateEach(_ loaded: [LoadedResource]) -> [Diagnostic] {
        var diagnostics: [Diagnostic] = []
        for entry in loaded {
            let found = validate(entry.resource)
            if entry.decodingProblems.isEmpty {
                diagnostics += found
                continue
            }
            let consequences = DecodingConsequences(entry.decodingProblems, node: entry.resource.source?.node)
            diagnostics += found.filter { !consequences.contain($0) }
        }
        return diagnostics
    }

    /// The set as a whole: duplicates and references between resources.
    func validateAcross(_ loaded: [LoadedResource]) -> [Diagnostic] {
        let incomplete = Set(loaded.filter { !$0.decodingProblems.isEmpty }.map(\.resource.reference))
        return CrossResourceChecks(resources: loaded.map(\.resource), meshConfig: meshConfig, incomplete: incomplete).run()
    }
}

/// The places where a rule's complaint would only restate a problem met while decoding.
struct DecodingConsequences {
    /// What a complaint on a field holding a failed field may be about.
    private enum Scope {
        /// A list with a failed item: its list-wide checks (weights adding up) cannot be judged.
        case everything
        /// Complaints naming these fields (a route "needs one of route, redirect, ...").
        case fields(Set<String>)
    }

    /// Fields whose value failed to decode, and fields a misspelt key meant: absent, so
    /// nothing in them can be judged.
    private var absent: Set<FieldPath> = []
    private var holders: [FieldPath: Scope] = [:]

    init(_ problems: [DecodingProblem], node: ConfigNode?) {
        for problem in problems {
            let holder = problem.path.parent
            if problem.isUnknownField {
                // `hots: x` leaves `host` missing; but if `host` is written too, its own
                // problems are real.
                guard let meant = problem.suggestedField, node?.node(at: holder / meant) == nil else { continue }
                absent.insert(holder / meant)
                add(meant, to: holder)
                continue
            }
            absent.insert(problem.path)
            switch problem.path.components.last {
            case .key(let field):
                add(field, to: holder)
                // A field of a list item also feeds checks over the whole list (its weight).
                if case .index = holder.components.last { add(field, to: holder.parent) }
            case .index:
                holders[holder] = .everything
            case nil:
                break
            }
        }
    }

    private mutating func add(_ field: String, to holder: FieldPath) {
        switch holders[holder] {
        case .everything: break
        case .fields(let fields): holders[holder] = .fields(fields.union([field]))
        case nil: holders[holder] = .fields([field])
        }
    }

    /// Whether `diagnostic` only follows from a decoding problem.
    func contain(_ diagnostic: Diagnostic) -> Bool {
        guard let path = diagnostic.path else { return false }
        switch holders[path] {
        case .everything: return true
        case .fields(let fields) where fields.contains(where: { diagnostic.message.contains($0) }): return true
        default: break
        }
        var current = path
        while true {
            if absent.contains(current) { return true }
            if current.components.isEmpty { return false }
            current = current.parent
        }
    }
}
