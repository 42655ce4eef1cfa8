// Collects the diagnostics of one resource's validation, locating each field in its file.

/// Where rules report problems while validating one resource.
struct ValidationContext {
    let resource: MeshResource
    private(set) var diagnostics: [Diagnostic] = []
    /// Shared by every report on this resource: a problem on each of a thousand labels must not
    /// search the label map a thousand times.
    private let keyIndex = MappingKeyIndex()

    init(resource: MeshResource) {
        self.resource = resource
    }

    /// Where a resource's own settings start; rules name fields below it.
    var spec: FieldPath { .spec }

    mutating func error(_ path: FieldPath, _ message: String) {
        report(.error, path, message)
    }

    mutating func warning(_ path: FieldPath, _ message: String) {
        report(.warning, path, message)
    }

    mutating func report(_ severity: Severity, _ path: FieldPath, _ message: String) {
        let location = resource.source?.location(of: path, keyIndex: keyIndex)
        diagnostics.append(Diagnostic(severity, message, at: location, resource: resource.reference, path: path))
    }

    /// Reports `message` as an error when it is non-nil.
    mutating func check(_ path: FieldPath, _ message: String?) {
        if let message { error(path, message) }
    }

    /// Reports an error for each pair of mutually exclusive fields that are both set.
    mutating func exclusive(_ path: FieldPath, _ fields: [(String, Bool)]) {
        let set = fields.filter(\.1).map(\.0)
        if set.count > 1 {
            error(path / set[1], "\(set.map { "\"\($0)\"" }.joined(separator: " and ")) are mutually exclusive; set only one")
        }
    }
}

extension FieldPath {
    public static let spec = FieldPath.root / "spec"
}
