// Turns YAML/JSON documents and Kubernetes Lists into typed resources, reporting decode problems.

import Foundation

/// A resource read from a file, with the problems met decoding it (the fields involved are
/// absent from `resource`; validation does not report them a second time).
public struct LoadedResource: Sendable {
    public var resource: MeshResource
    public var decodingProblems: [DecodingProblem]
}

/// What loading a set of inputs produced.
public struct LoadResult: Sendable {
    public var resources: [LoadedResource] = []
    public var diagnostics: [Diagnostic] = []
}

/// Reads Istio resources from in-memory inputs, each named by the file it stands for.
public struct ConfigLoader: Sendable {
    public var reader = ConfigDocumentReader()

    public init() {}

    /// Reads every document of every input; resources of the kinds SwiftMesh knows are decoded,
    /// other Kubernetes kinds are noted once per kind.
    public func load(_ inputs: [ConfigInput]) -> LoadResult {
        var result = LoadResult()
        var ignored: [String: (count: Int, location: SourceLocation)] = [:]
        var ignoredOrder: [String] = []
        for input in inputs {
            let (documents, readDiagnostics) = reader.read(input.data, file: input.file)
            result.diagnostics += readDiagnostics
            for document in documents {
                loadObject(document.root, file: input.file, into: &result) { kindDescription, location in
                    if ignored[kindDescription] == nil {
                        ignored[kindDescription] = (0, location)
                        ignoredOrder.append(kindDescription)
                    }
                    ignored[kindDescription]!.count += 1
                }
            }
        }
        for kind in ignoredOrder {
            let (count, location) = ignored[kind]!
            let times = count == 1 ? "" : " (\(count) documents)"
            result.diagnostics.append(Diagnostic(.info, "\(kind) is not a SwiftMesh resource, ignored\(times)", at: location))
        }
        return result
    }

    private func loadObject(
        _ node: ConfigNode, file: String, into result: inout LoadResult,
        ignore: (String, SourceLocation) -> Void
    ) {
        guard case .mapping = node else {
            if case .scalar(_, .null, _) = node { return }  // an empty document
            result.diagnostics.append(Diagnostic(
                .error, "a document must be a Kubernetes object (a mapping with apiVersion and kind), found \(node.describedForError)",
                at: node.location))
            return
        }
        let kind: String
        let apiVersion: String
        switch (Self.requiredString("kind", in: node), Self.requiredString("apiVersion", in: node)) {
        case (.failure(let problem), _), (_, .failure(let problem)):
            result.diagnostics.append(problem)
            return
        case (.success(let foundKind), .success(let foundVersion)):
            kind = foundKind
            apiVersion = foundVersion
        }
        let (group, version) = Self.split(apiVersion)
        let resourceKind = ResourceKind(rawValue: kind)
        let isIstioGroup = ResourceKind.istioGroups.contains(group)
        // `kind: List` (kubectl's output) or a typed list of an Istio kind (`VirtualServiceList`).
        if kind == "List" || (isIstioGroup && kind.hasSuffix("List") && ResourceKind(rawValue: String(kind.dropLast(4))) != nil),
           let items = node["items"] {
            guard case .sequence(let list, _) = items else {
                result.diagnostics.append(Diagnostic(.error, "expected a list, found \(items.describedForError)", at: items.location, path: FieldPath.root / "items"))
                return
            }
            for item in list {
                loadObject(item, file: file, into: &result, ignore: ignore)
            }
            return
        }
        guard let resourceKind, resourceKind.group == group else {
            if let resourceKind, group.isEmpty {
                // No core Kubernetes kind has an Istio kind's name: the group was left out.
                result.diagnostics.append(Diagnostic(
                    .error, "\(kind) belongs to \(resourceKind.group); write apiVersion: \(resourceKind.preferredAPIVersion)",
                    at: node.location(of: FieldPath.root / "apiVersion"), resource: Self.reference(kind: kind, node: node),
                    path: FieldPath.root / "apiVersion"))
            } else if isIstioGroup {
                result.diagnostics.append(Diagnostic(
                    .warning, "\(kind) (\(apiVersion)) is an Istio resource SwiftMesh does not support; ignored",
                    at: node.location, resource: Self.reference(kind: kind, node: node)))
            } else {
                ignore("\(kind) (\(apiVersion))", node.location)
            }
            return
        }
        let reference = Self.reference(kind: kind, node: node)
        guard resourceKind.versions.contains(version) else {
            result.diagnostics.append(Diagnostic(
                .error, "\(apiVersion) is not a served version of \(kind); use one of \(resourceKind.versions.map { "\(group)/\($0)" }.joined(separator: ", "))",
                at: node.location(of: FieldPath.root / "apiVersion"), resource: reference, path: FieldPath.root / "apiVersion"))
            return
        }
        let (resource, problems) = Self.decode(resourceKind, node: node)
        for problem in problems {
            result.diagnostics.append(Diagnostic(.error, problem.message, at: problem.location, resource: reference, path: problem.path))
        }
        if var resource {
            resource.source = ResourceSource(file: file, node: node)
            result.resources.append(LoadedResource(resource: resource, decodingProblems: problems))
        }
    }

    private static func requiredString(_ field: String, in node: ConfigNode) -> Result<String, Diagnostic> {
        guard let value = node[field] else {
            return .failure(Diagnostic(.error, "missing required field \"\(field)\"", at: node.location, path: FieldPath.root / field))
        }
        guard let text = value.stringValue, !text.isEmpty else {
            return .failure(Diagnostic(.error, "\(field) must be a non-empty string, found \(value.describedForError)",
                                       at: value.location, path: FieldPath.root / field))
        }
        return .success(text)
    }

    /// `group/version`; core Kubernetes kinds have a bare version (`v1`) and an empty group.
    static func split(_ apiVersion: String) -> (group: String, version: String) {
        guard let slash = apiVersion.firstIndex(of: "/") else { return ("", apiVersion) }
        return (String(apiVersion[..<slash]), String(apiVersion[apiVersion.index(after: slash)...]))
    }

    static func reference(kind: String, node: ConfigNode) -> ResourceReference {
        let metadata = node["metadata"]
        let namespace = metadata?["namespace"]?.stringValue ?? ""
        return ResourceReference(
            kind: kind,
            namespace: namespace.isEmpty ? ObjectMeta.defaultNamespace : namespace,
            name: metadata?["name"]?.stringValue ?? "")
    }

    private struct Envelope<Spec: Codable & Hashable & Sendable>: Decodable {
        var apiVersion: String
        var kind: String
        var metadata: ObjectMeta?
        var spec: Spec?
        var status: ConfigValue?
    }

    private static func decode<Spec: Codable & Hashable & Sendable>(
        _ type: Spec.Type, node: ConfigNode, empty: Spec, wrap: (Spec) -> ResourceSpec
    ) -> (MeshResource?, [DecodingProblem]) {
        let (envelope, problems) = ConfigNodeDecoder().decode(Envelope<Spec>.self, from: node)
        guard let envelope else { return (nil, problems) }
        let resource = MeshResource(
            apiVersion: envelope.apiVersion, metadata: envelope.metadata ?? ObjectMeta(),
            spec: wrap(envelope.spec ?? empty), status: envelope.status)
        return (resource, problems)
    }

    /// Decodes one object of a known kind.
    static func decode(_ kind: ResourceKind, node: ConfigNode) -> (MeshResource?, [DecodingProblem]) {
        switch kind {
        case .virtualService: return decode(VirtualService.self, node: node, empty: VirtualService(), wrap: ResourceSpec.virtualService)
        case .destinationRule: return decode(DestinationRule.self, node: node, empty: DestinationRule(), wrap: ResourceSpec.destinationRule)
        case .gateway: return decode(Gateway.self, node: node, empty: Gateway(), wrap: ResourceSpec.gateway)
        case .serviceEntry: return decode(ServiceEntry.self, node: node, empty: ServiceEntry(), wrap: ResourceSpec.serviceEntry)
        case .workloadEntry: return decode(WorkloadEntry.self, node: node, empty: WorkloadEntry(), wrap: ResourceSpec.workloadEntry)
        case .workloadGroup: return decode(WorkloadGroup.self, node: node, empty: WorkloadGroup(), wrap: ResourceSpec.workloadGroup)
        case .sidecar: return decode(Sidecar.self, node: node, empty: Sidecar(), wrap: ResourceSpec.sidecar)
        case .peerAuthentication: return decode(PeerAuthentication.self, node: node, empty: PeerAuthentication(), wrap: ResourceSpec.peerAuthentication)
        case .requestAuthentication: return decode(RequestAuthentication.self, node: node, empty: RequestAuthentication(), wrap: ResourceSpec.requestAuthentication)
        case .authorizationPolicy: return decode(AuthorizationPolicy.self, node: node, empty: AuthorizationPolicy(), wrap: ResourceSpec.authorizationPolicy)
        case .telemetry: return decode(Telemetry.self, node: node, empty: Telemetry(), wrap: ResourceSpec.telemetry)
        }
    }
}
