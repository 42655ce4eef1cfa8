// A `Decoder` over located nodes that records every problem with its field path and position.

import Foundation

/// A problem found while decoding: the field and why.
public struct DecodingProblem: Error, Sendable {
    public var path: FieldPath
    public var location: SourceLocation
    public var message: String
    /// Whether the problem is a field the type does not have (rather than a bad value).
    public var isUnknownField: Bool
    /// For an unknown field, the known field it is probably a misspelling of.
    public var suggestedField: String?

    public init(path: FieldPath, location: SourceLocation, message: String, isUnknownField: Bool = false, suggestedField: String? = nil) {
        self.path = path
        self.location = location
        self.message = message
        self.isUnknownField = isUnknownField
        self.suggestedField = suggestedField
    }
}

/// Decodes `Decodable` types from a `ConfigNode` with proto-JSON semantics as Istio applies them:
/// camelCase or snake_case field names, numbers may be quoted, `null` means absent, unknown
/// fields and wrong types are errors. Optional fields that fail to decode are recorded and left
/// absent, so one pass finds every problem in a document.
public struct ConfigNodeDecoder {
    public init() {}

    /// Decodes `type` from `node` (found at `path` of its document), with every problem met.
    /// The value is nil only when the node itself has the wrong shape.
    public func decode<T: Decodable>(_ type: T.Type, from node: ConfigNode, at path: FieldPath = .root)
        -> (value: T?, problems: [DecodingProblem])
    {
        let session = DecodingSession()
        do {
            let value = try session.decodeValue(type, node: node, path: path)
            return (value, session.problems)
        } catch let problem as DecodingProblem {
            session.problems.append(problem)
        } catch {
            session.problems.append(DecodingProblem(path: path, location: node.location, message: "\(error)"))
        }
        return (nil, session.problems)
    }
}

final class DecodingSession {
    var problems: [DecodingProblem] = []

    func fail(_ node: ConfigNode, _ path: FieldPath, expected: String) -> DecodingProblem {
        DecodingProblem(path: path, location: node.location, message: "expected \(expected), found \(node.describedForError)")
    }

    func decodeValue<T: Decodable>(_ type: T.Type, node: ConfigNode, path: FieldPath) throws -> T {
        if type == String.self { return try decodeString(node, path) as! T }
        if type == Bool.self { return try decodeBool(node, path) as! T }
        if type == Int.self { return try decodeInteger(Int.self, node, path) as! T }
        if type == Int32.self { return try decodeInteger(Int32.self, node, path) as! T }
        if type == Int64.self { return try decodeInteger(Int64.self, node, path) as! T }
        if type == UInt32.self { return try decodeInteger(UInt32.self, node, path) as! T }
        if type == UInt64.self { return try decodeInteger(UInt64.self, node, path) as! T }
        if type == Double.self { return try decodeDouble(node, path) as! T }
        // Primitives the API does not use today, handled so a new field of such a type cannot
        // recurse through `init(from:)` back into this function.
        if type == Float.self { return Float(try decodeDouble(node, path)) as! T }
        if type == Int8.self { return try decodeInteger(Int8.self, node, path) as! T }
        if type == Int16.self { return try decodeInteger(Int16.self, node, path) as! T }
        if type == UInt.self { return try decodeInteger(UInt.self, node, path) as! T }
        if type == UInt8.self { return try decodeInteger(UInt8.self, node, path) as! T }
        if type == UInt16.self { return try decodeInteger(UInt16.self, node, path) as! T }
        if type == ConfigValue.self { return ConfigValue(node: node) as! T }
        if type == ProtoDuration.self, case .scalar(let text, let kind, _) = node, kind != .string, kind != .null {
            let example = kind == .integer || kind == .float ? "\"\(text)s\"" : "\"1.5s\""
            throw DecodingProblem(path: path, location: node.location,
                                  message: "expected a duration such as \(example) or \"100ms\", found \(node.describedForError)")
        }
        if let listType = type as? any ElementwiseList.Type {
            return try listType.decodeElements(node: node, path: path, session: self) as! T
        }
        if let mapType = type as? any StringKeyedMap.Type {
            return try mapType.decodeEntries(node: node, path: path, session: self) as! T
        }
        if let enumType = type as? any ConfigEnum.Type {
            return try decodeEnum(enumType, node, path) as! T
        }
        let decoder = NodeDecoder(node: node, path: path, session: self)
        do {
            let value = try T(from: decoder)
            reportUnknownFields(of: decoder, removed: (type as? any RemovedFields.Type)?.removedFields ?? [:])
            return value
        } catch let problem as DecodingProblem {
            throw problem
        } catch {
            // A type's own check (a duration's syntax): place it at the node that failed.
            throw DecodingProblem(path: path, location: node.location, message: "\(error)")
        }
    }

    private func reportUnknownFields(of decoder: NodeDecoder, removed: [String: String]) {
        guard let unknown = decoder.tracker.unknownEntries, !unknown.isEmpty else { return }
        let known = decoder.tracker.askedKeys.sorted()
        for entry in unknown {
            if let advice = removed[entry.key] ?? entry.key.snakeToCamelCase.flatMap({ removed[$0] }) {
                problems.append(DecodingProblem(path: decoder.path / entry.key, location: entry.keyLocation,
                                                message: "field \"\(entry.key)\" was removed from Istio's API; \(advice)", isUnknownField: true))
                continue
            }
            var message = "unknown field \"\(entry.key.truncatedForDisplay)\""
            let suggestion = Suggestion.closest(to: entry.key, among: known)
            if let suggestion {
                message += "; did you mean \"\(suggestion)\"?"
            } else if known == ["matchLabels"] || known == ["labels"] {
                // A selector written as a bare label map (`selector: {app: x}`).
                message += "; a selector holds its labels under \"\(known[0])\" (\(known[0]): {\(entry.key): ...})"
            }
            let meant = suggestion ?? ((known == ["matchLabels"] || known == ["labels"]) ? known[0] : nil)
            problems.append(DecodingProblem(path: decoder.path / entry.key, location: entry.keyLocation, message: message,
                                            isUnknownField: true, suggestedField: meant))
        }
    }

    func decodeString(_ node: ConfigNode, _ path: FieldPath) throws -> String {
        guard case .scalar(let text, let kind, _) = node else { throw fail(node, path, expected: "a string") }
        guard kind == .string else {
            if kind == .null { throw fail(node, path, expected: "a string") }
            throw DecodingProblem(
                path: path, location: node.location,
                message: "expected a string, found \(node.describedForError); quote it (\"\(text)\") to make it a string")
        }
        return text
    }

    func decodeBool(_ node: ConfigNode, _ path: FieldPath) throws -> Bool {
        if case .scalar(let text, let kind, _) = node {
            if kind == .boolean, let value = PlainScalar.booleanValue(text) { return value }
            // proto JSON accepts only true/false; a quoted "true" is still a string.
        }
        throw fail(node, path, expected: "true or false")
    }

    func decodeInteger<I: FixedWidthInteger>(_ type: I.Type, _ node: ConfigNode, _ path: FieldPath) throws -> I {
        let expected = I.isSigned ? "an integer" : "a non-negative integer"
        guard case .scalar(let text, let kind, _) = node else { throw fail(node, path, expected: expected) }
        // proto JSON accepts integers written as strings ("9080") as well as numbers.
        let candidate: String
        switch kind {
        case .integer: candidate = text
        case .string where PlainScalar.isDecimal(text): candidate = text
        case .float:
            if let value = PlainScalar.floatValue(text), value == value.rounded(), let exact = I(exactly: value) { return exact }
            throw fail(node, path, expected: expected)
        default: throw fail(node, path, expected: expected)
        }
        guard let wide = PlainScalar.integerValue(candidate) else {
            throw DecodingProblem(path: path, location: node.location, message: "integer \(text.truncatedForDisplay) is out of range")
        }
        guard let value = I(exactly: wide) else {
            if wide < 0 && !I.isSigned {
                throw DecodingProblem(path: path, location: node.location, message: "expected a non-negative integer, found \(text)")
            }
            throw DecodingProblem(path: path, location: node.location, message: "integer \(text) is out of range (\(I.min)...\(I.max))")
        }
        return value
    }

    func decodeDouble(_ node: ConfigNode, _ path: FieldPath) throws -> Double {
        guard case .scalar(let text, let kind, _) = node else { throw fail(node, path, expected: "a number") }
        switch kind {
        case .integer: if let value = PlainScalar.integerValue(text).map(Double.init) ?? Double(text) { return value }
        case .float:
            if let value = PlainScalar.floatValue(text) {
                guard value.isFinite else { throw fail(node, path, expected: "a finite number") }
                return value
            }
        case .string: if let value = Double(text.trimmingCharacters(in: .whitespaces)), value.isFinite { return value }
        default: break
        }
        throw fail(node, path, expected: "a number")
    }

    func decodeEnum<E: ConfigEnum>(_ type: E.Type, _ node: ConfigNode, _ path: FieldPath) throws -> E {
        let names = E.allCases.map(\.rawValue)
        guard case .scalar(let text, let kind, _) = node, kind == .string else {
            throw fail(node, path, expected: "one of \(names.joined(separator: ", "))")
        }
        if let value = E(rawValue: text) { return value }
        var message = "unknown value \"\(text.truncatedForDisplay)\"; expected one of \(names.joined(separator: ", "))"
        if let suggestion = Suggestion.closest(to: text, among: names) {
            message = "unknown value \"\(text.truncatedForDisplay)\"; did you mean \"\(suggestion)\"? (expected one of \(names.joined(separator: ", ")))"
        }
        throw DecodingProblem(path: path, location: node.location, message: message)
    }
}

/// Maps (labels, header matches, locality weights) decode entry by entry: a bad value is
/// reported and left out, and the other entries are kept and checked.
protocol StringKeyedMap {
    static func decodeEntries(node: ConfigNode, path: FieldPath, session: DecodingSession) throws -> Self
}

extension Dictionary: StringKeyedMap where Key == String, Value: Decodable {
    static func decodeEntries(node: ConfigNode, path: FieldPath, session: DecodingSession) throws -> Self {
        guard case .mapping(let entries, _) = node else { throw session.fail(node, path, expected: "a mapping") }
        var map: [String: Value] = [:]
        map.reserveCapacity(entries.count)
        for entry in entries {
            do {
                map[entry.key] = try session.decodeValue(Value.self, node: entry.value, path: path / entry.key)
            } catch let problem as DecodingProblem {
                session.problems.append(problem)
            }
        }
        return map
    }
}

/// Lists decode item by item: a bad item is reported and stands in as an empty placeholder (so
/// the items after it keep their indices), and the other items are kept and checked.
protocol ElementwiseList {
    static func decodeElements(node: ConfigNode, path: FieldPath, session: DecodingSession) throws -> Self
}

extension Array: ElementwiseList where Element: Decodable {
    static func decodeElements(node: ConfigNode, path: FieldPath, session: DecodingSession) throws -> Self {
        guard case .sequence(let items, _) = node else { throw session.fail(node, path, expected: "a list") }
        var list: [Element] = []
        list.reserveCapacity(items.count)
        for (index, item) in items.enumerated() {
            do {
                if case .scalar(_, .null, _) = item {
                    throw DecodingProblem(path: path / index, location: item.location, message: "list items must not be null")
                }
                list.append(try session.decodeValue(Element.self, node: item, path: path / index))
            } catch let problem as DecodingProblem {
                session.problems.append(problem)
                guard let placeholder = placeholder(at: item.location) else { throw problem }
                list.append(placeholder)
            }
        }
        return list
    }

    /// An empty value of the element type: an object with no fields, or an empty string.
    /// Rules do not judge it, since a problem is recorded at its path.
    private static func placeholder(at location: SourceLocation) -> Element? {
        let scratch = DecodingSession()
        for empty in [ConfigNode.mapping([], location), .scalar("", .string, location)] {
            if let value = try? scratch.decodeValue(Element.self, node: empty, path: .root), scratch.problems.isEmpty {
                return value
            }
            scratch.problems = []
        }
        return nil
    }
}

/// What one decoder learned about the mapping it read: which keys its type asked for (to suggest
/// corrections) and which entries no key of the type accepts.
final class KeyTracker {
    var askedKeys: Set<String> = []
    var unknownEntries: [ConfigNode.Entry]?
    /// Asked keys are only needed to suggest a correction for an unknown field.
    var recordsAskedKeys = false
}

struct NodeDecoder: Decoder {
    let node: ConfigNode
    let path: FieldPath
    let session: DecodingSession
    let tracker = KeyTracker()

    var codingPath: [CodingKey] { path.codingPath }
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        guard case .mapping(let entries, _) = node else { throw session.fail(node, path, expected: "a mapping") }
        var accepted: [ConfigNode.Entry] = []
        accepted.reserveCapacity(entries.count)
        var unknown: [ConfigNode.Entry] = []
        for entry in entries {
            var field = entry
            if Key(stringValue: entry.key) == nil, let camel = entry.key.snakeToCamelCase, Key(stringValue: camel) != nil {
                // proto JSON also accepts the original proto field name (`max_connections`).
                field.key = camel
            } else if Key(stringValue: entry.key) == nil {
                unknown.append(entry)
                continue
            }
            if let first = accepted.first(where: { $0.key == field.key }) {
                session.problems.append(DecodingProblem(
                    path: path / entry.key, location: entry.keyLocation,
                    message: "field \"\(field.key)\" is given twice (as \"\(first.writtenKey(in: entries))\" and \"\(entry.key)\")",
                    isUnknownField: true))
                continue
            }
            accepted.append(field)
        }
        if tracker.unknownEntries == nil {
            tracker.unknownEntries = unknown
            tracker.recordsAskedKeys = !unknown.isEmpty
        }
        return KeyedDecodingContainer(MappingContainer<Key>(
            entries: MappingEntries(accepted), location: node.location, path: path, session: session, tracker: tracker))
    }

    func unkeyedContainer() throws -> UnkeyedDecodingContainer {
        guard case .sequence(let items, _) = node else { throw session.fail(node, path, expected: "a list") }
        return SequenceContainer(items: items, location: node.location, path: path, session: session)
    }

    func singleValueContainer() throws -> SingleValueDecodingContainer {
        SingleValueContainer(node: node, path: path, session: session)
    }
}

/// A mapping's entries, found by key: a scan for the small mappings of Istio's fields, a
/// dictionary for large maps (labels, headers).
struct MappingEntries {
    let entries: [ConfigNode.Entry]
    let index: [String: Int]?

    init(_ entries: [ConfigNode.Entry]) {
        self.entries = entries
        if entries.count > 16 {
            var index: [String: Int] = [:]
            for (position, entry) in entries.enumerated() where index[entry.key] == nil { index[entry.key] = position }
            self.index = index
        } else {
            self.index = nil
        }
    }

    subscript(key: String) -> ConfigNode.Entry? {
        if let index { return index[key].map { entries[$0] } }
        return entries.first { $0.key == key }
    }
}

struct MappingContainer<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let entries: MappingEntries
    /// Where the mapping starts: a missing field is reported there.
    let location: SourceLocation
    let path: FieldPath
    let session: DecodingSession
    let tracker: KeyTracker

    var codingPath: [CodingKey] { path.codingPath }
    var allKeys: [Key] { entries.entries.compactMap { Key(stringValue: $0.key) } }

    private func entry(_ key: Key) -> ConfigNode.Entry? {
        if tracker.recordsAskedKeys { tracker.askedKeys.insert(key.stringValue) }
        return entries[key.stringValue]
    }

    func contains(_ key: Key) -> Bool { entry(key) != nil }

    func decodeNil(forKey key: Key) throws -> Bool {
        guard let entry = entry(key) else { return true }
        if case .scalar(_, .null, _) = entry.value { return true }
        return false
    }

    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
        guard let entry = entry(key) else {
            throw DecodingProblem(path: path / key.stringValue, location: location,
                                  message: "missing required field \"\(key.stringValue)\"")
        }
        return try session.decodeValue(type, node: entry.value, path: path / key.stringValue)
    }

    // The standard library gives each primitive type its own `decodeIfPresent` requirement, with
    // default implementations that would throw past the recording below; route them all here.
    func decodeIfPresent(_ type: Bool.Type, forKey key: Key) throws -> Bool? { try decodeRecording(type, key) }
    func decodeIfPresent(_ type: String.Type, forKey key: Key) throws -> String? { try decodeRecording(type, key) }
    func decodeIfPresent(_ type: Double.Type, forKey key: Key) throws -> Double? { try decodeRecording(type, key) }
    func decodeIfPresent(_ type: Float.Type, forKey key: Key) throws -> Float? { try decodeRecording(type, key) }
    func decodeIfPresent(_ type: Int.Type, forKey key: Key) throws -> Int? { try decodeRecording(type, key) }
    func decodeIfPresent(_ type: Int8.Type, forKey key: Key) throws -> Int8? { try decodeRecording(type, key) }
    func decodeIfPresent(_ type: Int16.Type, forKey key: Key) throws -> Int16? { try decodeRecording(type, key) }
    func decodeIfPresent(_ type: Int32.Type, forKey key: Key) throws -> Int32? { try decodeRecording(type, key) }
    func decodeIfPresent(_ type: Int64.Type, forKey key: Key) throws -> Int64? { try decodeRecording(type, key) }
    func decodeIfPresent(_ type: UInt.Type, forKey key: Key) throws -> UInt? { try decodeRecording(type, key) }
    func decodeIfPresent(_ type: UInt8.Type, forKey key: Key) throws -> UInt8? { try decodeRecording(type, key) }
    func decodeIfPresent(_ type: UInt16.Type, forKey key: Key) throws -> UInt16? { try decodeRecording(type, key) }
    func decodeIfPresent(_ type: UInt32.Type, forKey key: Key) throws -> UInt32? { try decodeRecording(type, key) }
    func decodeIfPresent(_ type: UInt64.Type, forKey key: Key) throws -> UInt64? { try decodeRecording(type, key) }

    func decodeIfPresent<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T? {
        try decodeRecording(type, key)
    }

    /// Decodes an optional field; a problem is recorded and the field left absent, so the rest
    /// of the document is still read.
    private func decodeRecording<T: Decodable>(_ type: T.Type, _ key: Key) throws -> T? {
        guard let entry = entry(key) else { return nil }
        if case .scalar(_, .null, _) = entry.value { return nil }
        do {
            return try session.decodeValue(type, node: entry.value, path: path / key.stringValue)
        } catch let problem as DecodingProblem {
            session.problems.append(problem)
            return nil
        }
    }

    func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws -> KeyedDecodingContainer<NestedKey> {
        guard let entry = entry(key) else {
            throw DecodingProblem(path: path / key.stringValue, location: location, message: "missing required field \"\(key.stringValue)\"")
        }
        return try NodeDecoder(node: entry.value, path: path / key.stringValue, session: session).container(keyedBy: type)
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> UnkeyedDecodingContainer {
        guard let entry = entry(key) else {
            throw DecodingProblem(path: path / key.stringValue, location: location, message: "missing required field \"\(key.stringValue)\"")
        }
        return try NodeDecoder(node: entry.value, path: path / key.stringValue, session: session).unkeyedContainer()
    }

    func superDecoder() throws -> Decoder { NodeDecoder(node: .mapping([], location), path: path, session: session) }

    func superDecoder(forKey key: Key) throws -> Decoder {
        guard let entry = entry(key) else { return try superDecoder() }
        return NodeDecoder(node: entry.value, path: path / key.stringValue, session: session)
    }
}

struct SequenceContainer: UnkeyedDecodingContainer {
    let items: [ConfigNode]
    let location: SourceLocation
    let path: FieldPath
    let session: DecodingSession
    var currentIndex = 0

    var codingPath: [CodingKey] { path.codingPath }
    var count: Int? { items.count }
    var isAtEnd: Bool { currentIndex >= items.count }

    mutating func decodeNil() throws -> Bool {
        guard !isAtEnd, case .scalar(_, .null, _) = items[currentIndex] else { return false }
        currentIndex += 1
        return true
    }

    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T {
        guard !isAtEnd else {
            throw DecodingProblem(path: path, location: location, message: "list ended early")
        }
        let node = items[currentIndex]
        if case .scalar(_, .null, _) = node {
            throw DecodingProblem(path: path / currentIndex, location: node.location, message: "list items must not be null")
        }
        let value = try session.decodeValue(type, node: node, path: path / currentIndex)
        currentIndex += 1
        return value
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> {
        let node = items[currentIndex]
        defer { currentIndex += 1 }
        return try NodeDecoder(node: node, path: path / currentIndex, session: session).container(keyedBy: type)
    }

    mutating func nestedUnkeyedContainer() throws -> UnkeyedDecodingContainer {
        let node = items[currentIndex]
        defer { currentIndex += 1 }
        return try NodeDecoder(node: node, path: path / currentIndex, session: session).unkeyedContainer()
    }

    mutating func superDecoder() throws -> Decoder {
        let node = items[currentIndex]
        defer { currentIndex += 1 }
        return NodeDecoder(node: node, path: path / currentIndex, session: session)
    }
}

struct SingleValueContainer: SingleValueDecodingContainer {
    let node: ConfigNode
    let path: FieldPath
    let session: DecodingSession

    var codingPath: [CodingKey] { path.codingPath }

    func decodeNil() -> Bool {
        if case .scalar(_, .null, _) = node { return true }
        return false
    }

    func decode<T: Decodable>(_ type: T.Type) throws -> T {
        try session.decodeValue(type, node: node, path: path)
    }
}

struct PathCodingKey: CodingKey {
    var stringValue: String
    var intValue: Int?
    init(stringValue: String) { self.stringValue = stringValue }
    init(intValue: Int) {
        self.stringValue = "\(intValue)"
        self.intValue = intValue
    }
}

extension FieldPath {
    var codingPath: [CodingKey] {
        components.map { component in
            switch component {
            case .key(let key): return PathCodingKey(stringValue: key)
            case .index(let index): return PathCodingKey(intValue: index)
            }
        }
    }
}

extension ConfigNode.Entry {
    /// The key as written in the file (an accepted entry may carry the camelCase form).
    func writtenKey(in entries: [ConfigNode.Entry]) -> String {
        entries.first { $0.keyLocation == keyLocation }?.key ?? key
    }
}

extension String {
    /// `max_connections` → `maxConnections`; nil when there is no underscore.
    /// nil also when an underscore is not followed by a letter or digit (`host_` is no proto name).
    var snakeToCamelCase: String? {
        guard contains("_") else { return nil }
        var result = ""
        var upperNext = false
        for character in self {
            if character == "_" {
                if upperNext { return nil }
                upperNext = true
            } else if upperNext {
                guard character.isLetter || character.isNumber else { return nil }
                result += character.uppercased()
                upperNext = false
            } else {
                result.append(character)
            }
        }
        return upperNext || result.isEmpty ? nil : result
    }
}
