// Problems found in configuration: where, in which resource and field, and why.

/// How serious a problem is. Only errors make configuration unusable.
public enum Severity: String, Sendable, Codable, Comparable {
    /// Information, e.g. a document of a kind SwiftMesh does not handle.
    case info
    /// Valid but suspicious.
    case warning
    /// Invalid: the resource is rejected.
    case error

    private var rank: Int {
        switch self {
        case .info: return 0
        case .warning: return 1
        case .error: return 2
        }
    }

    public static func < (lhs: Severity, rhs: Severity) -> Bool { lhs.rank < rhs.rank }
}

/// The resource a diagnostic is about, as `Kind namespace/name`.
public struct ResourceReference: Hashable, Sendable, Codable, CustomStringConvertible {
    public var kind: String
    public var namespace: String
    public var name: String

    public init(kind: String, namespace: String, name: String) {
        self.kind = kind
        self.namespace = namespace
        self.name = name
    }

    public var description: String {
        let shownName = name.isEmpty ? "<unnamed>" : name
        // Cluster-scoped things (the mesh config file) have no namespace.
        return namespace.isEmpty ? "\(kind) \(shownName)" : "\(kind) \(namespace)/\(shownName)"
    }
}

/// One problem found in configuration.
public struct Diagnostic: Error, Hashable, Sendable, CustomStringConvertible {
    public var severity: Severity
    public var location: SourceLocation?
    public var resource: ResourceReference?
    public var path: FieldPath?
    public var message: String

    public init(
        _ severity: Severity, _ message: String, at location: SourceLocation? = nil,
        resource: ResourceReference? = nil, path: FieldPath? = nil
    ) {
        self.severity = severity
        self.message = message
        self.location = location
        self.resource = resource
        self.path = path
    }

    /// `file:line:col: error: Kind ns/name: spec.field: reason` (parts that are unknown are left out).
    public var description: String {
        var parts: [String] = []
        if let location { parts.append(location.description) }
        parts.append(severity.rawValue)
        if let resource { parts.append(resource.description) }
        if let path, !path.components.isEmpty { parts.append(path.description) }
        parts.append(message)
        return parts.joined(separator: ": ").escapingControlCharacters
    }
}

extension Diagnostic: Encodable {
    private enum CodingKeys: String, CodingKey {
        case severity, file, line, column, kind, namespace, name, path, message
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(severity, forKey: .severity)
        try container.encodeIfPresent(location?.file, forKey: .file)
        try container.encodeIfPresent(location?.line, forKey: .line)
        try container.encodeIfPresent(location?.column, forKey: .column)
        try container.encodeIfPresent(resource?.kind, forKey: .kind)
        try container.encodeIfPresent(resource?.namespace, forKey: .namespace)
        try container.encodeIfPresent(resource?.name, forKey: .name)
        try container.encodeIfPresent(path.map(\.description), forKey: .path)
        try container.encode(message, forKey: .message)
    }
}

extension Sequence where Element == Diagnostic {
    public var errorCount: Int { self.filter { $0.severity == .error }.count }
    public var warningCount: Int { self.filter { $0.severity == .warning }.count }

    /// Ordered by file, line, column, then text, so output is stable.
    public func sortedForDisplay() -> [Diagnostic] {
        sorted { a, b in
            let la = a.location, lb = b.location
            if la?.file != lb?.file { return (la?.file ?? "") < (lb?.file ?? "") }
            if la?.line != lb?.line { return (la?.line ?? 0) < (lb?.line ?? 0) }
            if la?.column != lb?.column { return (la?.column ?? 0) < (lb?.column ?? 0) }
            return a.description < b.description
        }
    }
}

extension String {
    /// Control characters written as escapes (`\n`, `\u{1B}`), so text from a file cannot break
    /// the one-line-per-problem output or drive the terminal.
    var escapingControlCharacters: String {
        guard unicodeScalars.contains(where: \.isControlForDisplay) else { return self }
        var result = ""
        for scalar in unicodeScalars {
            switch scalar {
            case "\n": result += "\\n"
            case "\r": result += "\\r"
            case "\t": result += "\\t"
            default:
                if scalar.isControlForDisplay {
                    result += "\\u{\(String(scalar.value, radix: 16, uppercase: true))}"
                } else {
                    result.unicodeScalars.append(scalar)
                }
            }
        }
        return result
    }
}

extension Unicode.Scalar {
    fileprivate var isControlForDisplay: Bool {
        value < 0x20 || value == 0x7F || (0x80..<0xA0).contains(value) || value == 0x2028 || value == 0x2029
    }
}
