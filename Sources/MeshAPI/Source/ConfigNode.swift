// The parsed shape of a configuration document, every node carrying its source location.

/// A YAML/JSON node with its position. Mapping keys keep their order and their own positions.
public enum ConfigNode: Sendable {
    /// How a scalar was written: resolved plain scalars may be numbers, booleans or null;
    /// quoted and block scalars are always strings.
    public enum ScalarKind: Sendable, Equatable {
        case string
        case integer
        case float
        case boolean
        case null
    }

    /// One key of a mapping, with the key's position.
    public struct Entry: Sendable {
        public var key: String
        public var keyLocation: SourceLocation
        public var value: ConfigNode

        /// Whether this entry is the field `key`, written as is or in its proto snake_case form.
        func names(_ field: String) -> Bool {
            key == field || (key.contains("_") && key.snakeToCamelCase == field)
        }
    }

    case scalar(String, ScalarKind, SourceLocation)
    case mapping([Entry], SourceLocation)
    case sequence([ConfigNode], SourceLocation)

    public var location: SourceLocation {
        switch self {
        case .scalar(_, _, let location), .mapping(_, let location), .sequence(_, let location):
            return location
        }
    }

    /// The value under `key` when this is a mapping.
    public subscript(key: String) -> ConfigNode? {
        guard case .mapping(let entries, _) = self else { return nil }
        return entries.first { $0.key == key }?.value
    }

    /// The scalar text when this is a string scalar (quoted, or plain and not a number/bool/null).
    public var stringValue: String? {
        if case .scalar(let text, .string, _) = self { return text }
        return nil
    }

    /// A short phrase for error messages: "a mapping", "the number 9080", ...
    public var describedForError: String {
        switch self {
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .scalar(let text, let kind, _):
            switch kind {
            case .string: return "the string \"\(text.truncatedForDisplay)\""
            case .integer, .float: return "the number \(text.truncatedForDisplay)"
            case .boolean: return "the boolean \(text)"
            case .null: return "null"
            }
        }
    }

    /// The same tree with every location passed through `place` (text embedded in a string of
    /// another document is placed back where it was written).
    func relocated(_ place: (SourceLocation) -> SourceLocation) -> ConfigNode {
        switch self {
        case .scalar(let text, let kind, let location):
            return .scalar(text, kind, place(location))
        case .sequence(let items, let location):
            return .sequence(items.map { $0.relocated(place) }, place(location))
        case .mapping(let entries, let location):
            return .mapping(entries.map { Entry(key: $0.key, keyLocation: place($0.keyLocation), value: $0.value.relocated(place)) }, place(location))
        }
    }

    /// The same node placed at `location` (an alias's own position); its contents keep theirs.
    func placed(at location: SourceLocation) -> ConfigNode {
        switch self {
        case .scalar(let text, let kind, _): return .scalar(text, kind, location)
        case .sequence(let items, _): return .sequence(items, location)
        case .mapping(let entries, _): return .mapping(entries, location)
        }
    }

    /// The node at `path`, if the document has one there.
    public func node(at path: FieldPath) -> ConfigNode? {
        var node = self
        for component in path.components {
            switch (component, node) {
            case (.key(let key), .mapping(let entries, _)):
                guard let entry = entries.first(where: { $0.names(key) }) else { return nil }
                node = entry.value
            case (.index(let index), .sequence(let items, _)):
                guard items.indices.contains(index) else { return nil }
                node = items[index]
            default:
                return nil
            }
        }
        return node
    }

    /// The location of the node at `path`, or of its deepest existing ancestor (a missing field
    /// is reported where its parent is). For a mapping entry, the location of its key.
    public func location(of path: FieldPath) -> SourceLocation {
        location(of: path, keyIndex: nil)
    }

    /// As `location(of:)`, finding keys of large mappings through `keyIndex` (one lookup table per
    /// mapping, kept across calls), so reporting a problem on each of n keys stays linear.
    func location(of path: FieldPath, keyIndex: MappingKeyIndex?) -> SourceLocation {
        var node = self
        var location = self.location
        for component in path.components {
            switch (component, node) {
            case (.key(let key), .mapping(let entries, let mappingLocation)):
                let position: Int?
                if let keyIndex, entries.count > MappingKeyIndex.threshold {
                    position = keyIndex.position(of: key, in: entries, at: mappingLocation)
                } else {
                    position = entries.firstIndex { $0.names(key) }
                }
                guard let position else { return location }
                let entry = entries[position]
                node = entry.value
                location = entry.keyLocation
            case (.index(let index), .sequence(let items, _)):
                guard items.indices.contains(index) else { return location }
                node = items[index]
                location = node.location
            default:
                return location
            }
        }
        return location
    }
}

/// Key positions of large mappings, built the first time one is searched.
final class MappingKeyIndex {
    static let threshold = 32
    private var positions: [SourceLocation: [String: Int]] = [:]

    func position(of key: String, in entries: [ConfigNode.Entry], at mapping: SourceLocation) -> Int? {
        if let known = positions[mapping] { return known[key] }
        var table: [String: Int] = [:]
        for (position, entry) in entries.enumerated() {
            if table[entry.key] == nil { table[entry.key] = position }
            if let camel = entry.key.snakeToCamelCase, table[camel] == nil { table[camel] = position }
        }
        positions[mapping] = table
        return table[key]
    }
}

extension String {
    /// At most 60 characters, for quoting user input in a message.
    var truncatedForDisplay: String {
        count <= 60 ? self : String(prefix(57)) + "..."
    }
}
