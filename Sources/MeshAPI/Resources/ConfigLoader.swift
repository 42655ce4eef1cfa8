// Turns files of Istio YAML/JSON (documents, Kubernetes Lists) into typed resources, reporting
// every decoding problem with file, line, column, resource and field.

import Foundation

/// A resource read from a file, with the fields that failed to decode (those are left absent in
/// `resource`, and validation does not report them a second time).
public struct LoadedResource: Sendable {
    public var resource: MeshResource
    public var undecodedPaths: [FieldPath]
}

/// What loading a set of files produced.
public struct LoadResult: Sendable {
    public var resources: [LoadedResource] = []
    public var diagnostics: [Diagnostic] = []
}

/// Reads Istio resources from files, directories or text.
public struct ConfigLoader: Sendable {
    public var reader = ConfigDocumentReader()
    /// File name endings read when a directory is given.
    public static let configExtensions: Set<String> = ["yaml", "yml", "json"]

    public init() {}

    /// Loads files and directories (recursively, `.yaml`, `.yml` and `.json` files in name order).
    /// Unreadable paths are reported as errors.
    public func load(paths: [String]) -> LoadResult {
        var files: [String] = []
        var result = LoadResult()
        for path in paths {
            switch Self.expand(path) {
            case .success(let found): files.append(contentsOf: found)
            case .failure(let diagnostic): result.diagnostics.append(diagnostic)
            }
        }
        var inputs: [(String, Data)] = []
        for file in files {
            guard let data = FileManager.default.contents(atPath: file) else {
                result.diagnostics.append(Diagnostic(.error, "cannot read file", at: SourceLocation(file: file, line: 1, column: 1)))
                continue
            }
            inputs.append((file, data))
        }
        let loaded = load(inputs)
        result.resources = loaded.resources
        result.diagnostics += loaded.diagnostics
        return result
    }

    /// The files a path names: itself, or the config files below a directory.
    public static func expand(_ path: String) -> Result<[String], Diagnostic> {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            return .failure(Diagnostic(.error, "no such file or directory", at: SourceLocation(file: path, line: 1, column: 1)))
        }
        guard isDirectory.boolValue else { return .success([path]) }
        guard let enumerator = FileManager.default.enumerator(atPath: path) else {
            return .failure(Diagnostic(.error, "cannot list directory", at: SourceLocation(file: path, line: 1, column: 1)))
        }
        var files: [String] = []
        while let relative = enumerator.nextObject() as? String {
            let ext = (relative as NSString).pathExtension.lowercased()
            guard configExtensions.contains(ext) else { continue }
            let full = (path as NSString).appendingPathComponent(relative)
            var childIsDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: full, isDirectory: &childIsDirectory), !childIsDirectory.boolValue {
                files.append(full)
            }
        }
        return .success(files.sorted())
    }

    /// Loads in-memory inputs, each named by the file it stands for.
    public func load(_ inputs: [(file: String, data: Data)]) -> LoadResult {
        var result = LoadResult()
        var ignored: [String: (count: Int, location: SourceLocation)] = [:]
        var ignoredOrder: [String] = []
        for (file, data) in inputs {
            let (documents, readDiagnostics) = reader.read(data, file: file)
            result.diagnostics += readDiagnostics
            for document in documents {
                loadObject(document.root, file: file, into: &result) { kindDescription, location in
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
        guard let kind = node["kind"]?.stringValue, !kind.isEmpty else {
            result.diagnostics.append(Diagnostic(.error, "missing required field \"kind\"", at: node.location, path: FieldPath.root / "kind"))
            return
        }
        guard let apiVersion = node["apiVersion"]?.stringValue, !apiVersion.isEmpty else {
            result.diagnostics.append(Diagnostic(.error, "missing required field \"apiVersion\"", at: node.location,
                                                 resource: Self.reference(kind: kind, node: node), path: FieldPath.root / "apiVersion"))
            return
        }
        if kind == "List" || kind.hasSuffix("List"), let items = node["items"] {
            guard case .sequence(let list, _) = items else {
                result.diagnostics.append(Diagnostic(.error, "expected a list, found \(items.describedForError)", at: items.location, path: FieldPath.root / "items"))
                return
            }
            for item in list {
                loadObject(item, file: file, into: &result, ignore: ignore)
            }
            return
        }
        let group = apiVersion.split(separator: "/", maxSplits: 1).first.map(String.init) ?? ""
        let version = apiVersion.contains("/") ? String(apiVersion.split(separator: "/", maxSplits: 1)[1]) : ""
        guard let resourceKind = ResourceKind(rawValue: kind), resourceKind.group == group else {
            if ResourceKind.groups.contains(group) {
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
            let location = node.location(of: FieldPath.root / "apiVersion")
            result.diagnostics.append(Diagnostic(
                .error, "\(apiVersion) is not a served version of \(kind); use one of \(resourceKind.versions.map { "\(group)/\($0)" }.joined(separator: ", "))",
                at: location, resource: reference, path: FieldPath.root / "apiVersion"))
            return
        }
        let (resource, problems) = Self.decode(resourceKind, node: node)
        let source = ResourceSource(file: file, node: node)
        for problem in problems {
            result.diagnostics.append(Diagnostic(.error, problem.message, at: problem.location, resource: reference, path: problem.path))
        }
        if var resource {
            resource.source = source
            result.resources.append(LoadedResource(resource: resource, undecodedPaths: problems.map(\.path)))
        }
    }

    static func reference(kind: String, node: ConfigNode) -> ResourceReference {
        let metadata = node["metadata"]
        return ResourceReference(
            kind: kind,
            namespace: metadata?["namespace"]?.stringValue ?? "default",
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
