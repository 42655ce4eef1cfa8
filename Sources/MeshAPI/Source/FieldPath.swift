// Paths into a resource (`spec.http[0].route[1].weight`), used to name fields in diagnostics.

/// A path from the root of a resource to one of its fields.
public struct FieldPath: Hashable, Sendable, CustomStringConvertible, Comparable {
    /// A key of a mapping or an index into a list.
    public enum Component: Hashable, Sendable {
        case key(String)
        case index(Int)
    }

    public private(set) var components: [Component]

    public init(_ components: [Component] = []) {
        self.components = components
    }

    public static let root = FieldPath()

    /// This path followed by a mapping key.
    public func appending(_ key: String) -> FieldPath {
        var copy = self
        copy.components.append(.key(key))
        return copy
    }

    /// This path followed by a list index.
    public func appending(_ index: Int) -> FieldPath {
        var copy = self
        copy.components.append(.index(index))
        return copy
    }

    /// The path of the field that holds this one; the root is its own parent.
    public var parent: FieldPath { FieldPath(Array(components.dropLast())) }

    public static func / (path: FieldPath, key: String) -> FieldPath { path.appending(key) }
    public static func / (path: FieldPath, index: Int) -> FieldPath { path.appending(index) }

    /// Whether `self` is `other` or lies inside it.
    public func isWithin(_ other: FieldPath) -> Bool {
        components.count >= other.components.count
            && Array(components.prefix(other.components.count)) == other.components
    }

    public var description: String {
        var text = ""
        for component in components {
            switch component {
            case .key(let key):
                // Keys that are not identifiers (label keys such as `app.kubernetes.io/name`)
                // are quoted so the path stays unambiguous.
                if key.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" }) && !key.isEmpty {
                    if !text.isEmpty { text += "." }
                    text += key
                } else {
                    text += "[\"\(key)\"]"
                }
            case .index(let index):
                text += "[\(index)]"
            }
        }
        return text
    }

    public static func < (lhs: FieldPath, rhs: FieldPath) -> Bool {
        lhs.description < rhs.description
    }
}
