// Writes `Encodable` values as block YAML that reads back to equal values.

/// Encodes values to YAML text.
public enum YAMLWriter {
    public static func yaml<T: Encodable>(_ value: T) throws -> String {
        let root = TreeNode()
        try value.encode(to: TreeEncoder(node: root, codingPath: []))
        var output = ""
        write(root, indent: 0, into: &output)
        return output
    }

    /// Several values as one multi-document stream.
    public static func yaml<T: Encodable>(documents: [T]) throws -> String {
        try documents.map { try yaml($0) }.joined(separator: "---\n")
    }

    private static func write(_ node: TreeNode, indent: Int, into output: inout String) {
        let pad = String(repeating: " ", count: indent)
        switch node.content {
        case .map(let entries) where !entries.isEmpty:
            for (key, value) in entries {
                output += pad + scalarText(.string(key)) + ":"
                writeValue(value, indent: indent, into: &output)
            }
        case .list(let items) where !items.isEmpty:
            for item in items {
                output += pad + "-"
                writeValue(item, indent: indent, into: &output, inList: true)
            }
        default:
            output += pad + inline(node) + "\n"
        }
    }

    /// Writes what follows `key:` or `-`: an inline value, or a nested block.
    private static func writeValue(_ node: TreeNode, indent: Int, into output: inout String, inList: Bool = false) {
        switch node.content {
        case .map(let entries) where !entries.isEmpty:
            if inList {
                // `- key: value` with the mapping's remaining keys aligned under the first.
                var nested = ""
                write(node, indent: indent + 2, into: &nested)
                output += " " + nested.dropFirst(indent + 2)
            } else {
                output += "\n"
                write(node, indent: indent + 2, into: &output)
            }
        case .list(let items) where !items.isEmpty:
            output += "\n"
            write(node, indent: inList ? indent + 2 : indent, into: &output)
        default:
            output += " " + inline(node) + "\n"
        }
    }

    private static func inline(_ node: TreeNode) -> String {
        switch node.content {
        case .map: return "{}"
        case .list: return "[]"
        case .scalar(let scalar): return scalarText(scalar)
        case .unset: return "null"
        }
    }

    static func scalarText(_ scalar: TreeNode.Scalar) -> String {
        switch scalar {
        case .null: return "null"
        case .bool(let value): return value ? "true" : "false"
        case .integer(let value): return String(value)
        case .unsigned(let value): return String(value)
        case .double(let value):
            if value.isNaN { return ".nan" }
            if value.isInfinite { return value < 0 ? "-.inf" : ".inf" }
            return "\(value)"
        case .string(let text):
            return isSafePlain(text) ? text : quoted(text)
        }
    }

    /// Whether `text` reads back as the same string when written without quotes.
    private static func isSafePlain(_ text: String) -> Bool {
        guard let first = text.unicodeScalars.first, let last = text.unicodeScalars.last else { return false }
        if PlainScalar.kind(of: text) != .string { return false }
        if "-?:,[]{}#&*!|>'\"%@`".unicodeScalars.contains(first) { return false }
        if first == " " || last == " " || last == ":" { return false }
        if text.contains(": ") || text.contains(" #") || text.hasPrefix("<<") { return false }
        return !text.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7F || ($0.value >= 0x80 && $0.value < 0xA0) || $0 == "\u{FEFF}" }
    }

    private static func quoted(_ text: String) -> String {
        var result = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": result += "\\\""
            case "\\": result += "\\\\"
            case "\n": result += "\\n"
            case "\t": result += "\\t"
            case "\r": result += "\\r"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7F || (scalar.value >= 0x80 && scalar.value < 0xA0) || scalar == "\u{FEFF}" {
                    result += "\\u" + String(repeating: "0", count: 4 - String(scalar.value, radix: 16).count) + String(scalar.value, radix: 16)
                } else {
                    result.unicodeScalars.append(scalar)
                }
            }
        }
        return result + "\""
    }
}

/// A value being encoded; containers fill it in place.
final class TreeNode {
    enum Scalar {
        case null
        case bool(Bool)
        case integer(Int64)
        case unsigned(UInt64)
        case double(Double)
        case string(String)
    }

    enum Content {
        case unset
        case scalar(Scalar)
        case list([TreeNode])
        case map([(String, TreeNode)])
    }

    var content: Content = .unset

    func append(_ key: String, _ child: TreeNode) {
        if case .map(var entries) = content {
            content = .unset
            entries.append((key, child))
            content = .map(entries)
        } else {
            content = .map([(key, child)])
        }
    }

    func append(_ child: TreeNode) {
        if case .list(var items) = content {
            content = .unset
            items.append(child)
            content = .list(items)
        } else {
            content = .list([child])
        }
    }
}

struct TreeEncoder: Encoder {
    let node: TreeNode
    let codingPath: [CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        if case .map = node.content {} else { node.content = .map([]) }
        return KeyedEncodingContainer(MapContainer<Key>(node: node, codingPath: codingPath))
    }

    func unkeyedContainer() -> UnkeyedEncodingContainer {
        if case .list = node.content {} else { node.content = .list([]) }
        return ListContainer(node: node, codingPath: codingPath)
    }

    func singleValueContainer() -> SingleValueEncodingContainer {
        ValueContainer(node: node, codingPath: codingPath)
    }

    /// Encodes `value` into `node`, storing primitives directly.
    static func encode<T: Encodable>(_ value: T, into node: TreeNode, codingPath: [CodingKey]) throws {
        switch value {
        case let value as String: node.content = .scalar(.string(value))
        case let value as Bool: node.content = .scalar(.bool(value))
        case let value as Double: node.content = .scalar(.double(value))
        case let value as Float: node.content = .scalar(.double(Double(value)))
        case let value as Int: node.content = .scalar(.integer(Int64(value)))
        case let value as Int32: node.content = .scalar(.integer(Int64(value)))
        case let value as Int64: node.content = .scalar(.integer(value))
        case let value as UInt32: node.content = .scalar(.unsigned(UInt64(value)))
        case let value as UInt64: node.content = .scalar(.unsigned(value))
        case let value as any SortableStringKeyedMap:
            // Maps (labels, headers) are written in key order, so output is stable.
            node.content = .map([])
            for (key, element) in value.entriesInKeyOrder {
                let child = TreeNode()
                try encode(element, into: child, codingPath: codingPath)
                node.append(key, child)
            }
        default: try value.encode(to: TreeEncoder(node: node, codingPath: codingPath))
        }
    }
}

protocol SortableStringKeyedMap {
    var entriesInKeyOrder: [(String, any Encodable)] { get }
}

extension Dictionary: SortableStringKeyedMap where Key == String, Value: Encodable {
    var entriesInKeyOrder: [(String, any Encodable)] {
        keys.sorted().map { ($0, self[$0]!) }
    }
}

private struct MapContainer<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let node: TreeNode
    let codingPath: [CodingKey]

    mutating func encodeNil(forKey key: Key) {
        let child = TreeNode()
        child.content = .scalar(.null)
        node.append(key.stringValue, child)
    }

    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
        let child = TreeNode()
        try TreeEncoder.encode(value, into: child, codingPath: codingPath + [key])
        node.append(key.stringValue, child)
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key) -> KeyedEncodingContainer<NestedKey> {
        let child = TreeNode()
        node.append(key.stringValue, child)
        return TreeEncoder(node: child, codingPath: codingPath + [key]).container(keyedBy: keyType)
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> UnkeyedEncodingContainer {
        let child = TreeNode()
        node.append(key.stringValue, child)
        return TreeEncoder(node: child, codingPath: codingPath + [key]).unkeyedContainer()
    }

    mutating func superEncoder() -> Encoder { TreeEncoder(node: node, codingPath: codingPath) }

    mutating func superEncoder(forKey key: Key) -> Encoder {
        let child = TreeNode()
        node.append(key.stringValue, child)
        return TreeEncoder(node: child, codingPath: codingPath + [key])
    }
}

private struct ListContainer: UnkeyedEncodingContainer {
    let node: TreeNode
    let codingPath: [CodingKey]
    var count: Int {
        if case .list(let items) = node.content { return items.count }
        return 0
    }

    mutating func encodeNil() {
        let child = TreeNode()
        child.content = .scalar(.null)
        node.append(child)
    }

    mutating func encode<T: Encodable>(_ value: T) throws {
        let child = TreeNode()
        try TreeEncoder.encode(value, into: child, codingPath: codingPath)
        node.append(child)
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        let child = TreeNode()
        node.append(child)
        return TreeEncoder(node: child, codingPath: codingPath).container(keyedBy: keyType)
    }

    mutating func nestedUnkeyedContainer() -> UnkeyedEncodingContainer {
        let child = TreeNode()
        node.append(child)
        return TreeEncoder(node: child, codingPath: codingPath).unkeyedContainer()
    }

    mutating func superEncoder() -> Encoder {
        let child = TreeNode()
        node.append(child)
        return TreeEncoder(node: child, codingPath: codingPath)
    }
}

private struct ValueContainer: SingleValueEncodingContainer {
    let node: TreeNode
    let codingPath: [CodingKey]

    mutating func encodeNil() { node.content = .scalar(.null) }

    mutating func encode<T: Encodable>(_ value: T) throws {
        try TreeEncoder.encode(value, into: node, codingPath: codingPath)
    }
}
