// Reads YAML or JSON text into located `ConfigNode` documents, refusing input that could
// exhaust the stack or memory.

import Foundation
import Yams

/// Turns the bytes of a configuration file into documents. JSON is read as YAML (a JSON text
/// is a YAML flow document), so both keep line and column positions.
public struct ConfigDocumentReader: Sendable {
    /// Deeper documents are refused before parsing: the YAML composer recurses once per level.
    /// Istio resources nest about 12 levels deep.
    public var maximumDepth = 100
    /// Nodes per file, counted after aliases are expanded (so `&a [*b, *b, ...]` bombs stop).
    public var maximumNodes = 2_000_000

    public init() {}

    public struct Document: Sendable {
        public var root: ConfigNode
        /// Position of the document in its file, from 0.
        public var index: Int
    }

    /// Reads every document of `data`. Problems that make the file unreadable are returned as
    /// error diagnostics; documents before the problem are still returned.
    public func read(_ data: Data, file: String) -> (documents: [Document], diagnostics: [Diagnostic]) {
        var bytes = data
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { bytes.removeFirst(3) }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            return ([], [invalidUTF8Diagnostic(bytes, file: file)])
        }
        return read(text, file: file)
    }

    public func read(_ text: String, file: String) -> (documents: [Document], diagnostics: [Diagnostic]) {
        if let (depth, line) = Self.nestingBound(of: text, exceeding: maximumDepth) {
            return ([], [Diagnostic(
                .error,
                "document nests more than \(maximumDepth) levels deep (at least \(depth) here); refusing to read it",
                at: SourceLocation(file: file, line: line, column: 1))])
        }
        var documents: [Document] = []
        do {
            let parser = try Parser(yaml: text, resolver: .basic)
            var budget = maximumNodes
            while let root = try parser.nextRoot() {
                let node = try convert(root, file: file, budget: &budget)
                documents.append(Document(root: node, index: documents.count))
            }
        } catch let error as YamlError {
            return (documents, [yamlDiagnostic(error, file: file)])
        } catch let error as ReaderFailure {
            return (documents, [Diagnostic(.error, error.message, at: error.location)])
        } catch {
            return (documents, [Diagnostic(.error, "cannot read YAML: \(error)", at: SourceLocation(file: file, line: 1, column: 1))])
        }
        return (documents, [])
    }

    private struct ReaderFailure: Error {
        var message: String
        var location: SourceLocation
    }

    private func convert(_ node: Node, file: String, budget: inout Int) throws -> ConfigNode {
        let location = node.mark.map { SourceLocation(file: file, line: $0.line, column: $0.column) }
            ?? SourceLocation(file: file, line: 1, column: 1)
        budget -= 1
        if budget < 0 {
            throw ReaderFailure(
                message: "file expands to more than \(maximumNodes) nodes (aliases?); refusing to read it",
                location: location)
        }
        switch node {
        case .scalar(let scalar):
            return .scalar(scalar.string, Self.kind(of: scalar), location)
        case .sequence(let sequence):
            var items: [ConfigNode] = []
            items.reserveCapacity(sequence.count)
            for item in sequence {
                items.append(try convert(item, file: file, budget: &budget))
            }
            return .sequence(items, location)
        case .mapping(let mapping):
            var entries: [ConfigNode.Entry] = []
            entries.reserveCapacity(mapping.count)
            for (key, value) in mapping {
                let keyLocation = key.mark.map { SourceLocation(file: file, line: $0.line, column: $0.column) } ?? location
                guard case .scalar(let keyScalar) = key else {
                    throw ReaderFailure(message: "mapping keys must be plain strings, found a \(key.isMapping ? "mapping" : "list") as a key", location: keyLocation)
                }
                if keyScalar.string == "<<" && keyScalar.style == .plain {
                    throw ReaderFailure(message: "YAML merge keys (<<) are not supported; write the fields out", location: keyLocation)
                }
                entries.append(ConfigNode.Entry(
                    key: keyScalar.string, keyLocation: keyLocation,
                    value: try convert(value, file: file, budget: &budget)))
            }
            return .mapping(entries, location)
        case .alias:
            // The parser substitutes aliases with their anchored node; this case is not produced.
            throw ReaderFailure(message: "unresolved YAML alias", location: location)
        }
    }

    /// Resolves a scalar as Kubernetes' YAML reader does (YAML 1.1 core schema): quoted and block
    /// scalars are strings; plain ones may be null, booleans or numbers.
    static func kind(of scalar: Node.Scalar) -> ConfigNode.ScalarKind {
        switch scalar.tag.description {
        case "tag:yaml.org,2002:str", "!": return .string
        case "tag:yaml.org,2002:int": return .integer
        case "tag:yaml.org,2002:float": return .float
        case "tag:yaml.org,2002:bool": return .boolean
        case "tag:yaml.org,2002:null": return .null
        default: break
        }
        guard scalar.style == .plain || scalar.style == .any else { return .string }
        return PlainScalar.kind(of: scalar.string)
    }

    private func yamlDiagnostic(_ error: YamlError, file: String) -> Diagnostic {
        func at(_ mark: Mark) -> SourceLocation {
            SourceLocation(file: file, line: mark.line, column: mark.column)
        }
        switch error {
        case .scanner(let context, let problem, let mark, _),
             .parser(let context, let problem, let mark, _),
             .composer(let context, let problem, let mark, _):
            var message = "YAML syntax error: \(problem)"
            if let context { message += " (\(context.text) at line \(context.mark.line), column \(context.mark.column))" }
            return Diagnostic(.error, message, at: at(mark))
        case .duplicatedKeysInMapping(let duplicates, let context):
            let keys = duplicates.map { "\"\($0)\"" }.joined(separator: ", ")
            return Diagnostic(.error, "duplicate key \(keys) in one mapping", at: at(context.mark))
        case .reader(let problem, let offset, _, let yaml):
            let location = offset.map { Self.location(ofUTF8Offset: $0, in: Array(yaml.utf8), file: file) }
                ?? SourceLocation(file: file, line: 1, column: 1)
            return Diagnostic(.error, "cannot read text: \(problem)", at: location)
        default:
            return Diagnostic(.error, "cannot read YAML: \(error)", at: SourceLocation(file: file, line: 1, column: 1))
        }
    }

    private func invalidUTF8Diagnostic(_ bytes: Data, file: String) -> Diagnostic {
        let array = [UInt8](bytes)
        var offset = 0
        var iterator = array.makeIterator()
        var decoder = UTF8()
        var position = 0
        loop: while true {
            switch decoder.decode(&iterator) {
            case .scalarValue(let scalar):
                position += UTF8.width(scalar)
            case .emptyInput:
                break loop
            case .error:
                offset = position
                break loop
            }
        }
        let location = Self.location(ofUTF8Offset: offset, in: array, file: file)
        let byte = offset < array.count ? String(format: "0x%02X", array[offset]) : "end of file"
        return Diagnostic(.error, "file is not valid UTF-8 (byte \(byte) at offset \(offset))", at: location)
    }

    static func location(ofUTF8Offset offset: Int, in bytes: [UInt8], file: String) -> SourceLocation {
        var line = 1
        var lineStart = 0
        for index in 0..<min(offset, bytes.count) where bytes[index] == UInt8(ascii: "\n") {
            line += 1
            lineStart = index + 1
        }
        return SourceLocation(file: file, line: line, column: offset - lineStart + 1)
    }

    /// An upper bound on how deeply `text` nests, checked cheaply before parsing: distinct
    /// increasing indentation levels, plus unclosed flow brackets, plus block indicators
    /// (`- `, `key: `) on the line. Quoted text on one line is skipped. Returns the bound and the
    /// line where it first passes `limit`, or nil if it never does.
    static func nestingBound(of text: String, exceeding limit: Int) -> (Int, Int)? {
        var indentLevels: [Int] = []
        var flowDepth = 0
        var lineNumber = 0
        for line in text.utf8.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            lineNumber += 1
            var indent = 0
            for byte in line {
                guard byte == UInt8(ascii: " ") else { break }
                indent += 1
            }
            if indent == line.count { continue }  // blank lines do not change structure
            while let last = indentLevels.last, last >= indent { indentLevels.removeLast() }
            indentLevels.append(indent)
            var indicators = 0
            var quote: UInt8? = nil
            var previous = UInt8(ascii: " ")
            for byte in line.dropFirst(indent) {
                if let open = quote {
                    if byte == open { quote = nil }
                } else {
                    switch byte {
                    case UInt8(ascii: "\""), UInt8(ascii: "'"):
                        if previous == UInt8(ascii: " ") || previous == UInt8(ascii: "[")
                            || previous == UInt8(ascii: "{") || previous == UInt8(ascii: ",")
                            || previous == UInt8(ascii: ":") {
                            quote = byte
                        }
                    case UInt8(ascii: "["), UInt8(ascii: "{"):
                        flowDepth += 1
                    case UInt8(ascii: "]"), UInt8(ascii: "}"):
                        flowDepth = max(0, flowDepth - 1)
                    case UInt8(ascii: "#") where previous == UInt8(ascii: " "):
                        break
                    case UInt8(ascii: "-"), UInt8(ascii: ":"), UInt8(ascii: "?"):
                        indicators += 1
                    default:
                        break
                    }
                }
                previous = byte
                let bound = indentLevels.count + flowDepth + indicators
                if bound > limit { return (bound, lineNumber) }
            }
        }
        return nil
    }
}

extension Node {
    fileprivate var isMapping: Bool {
        if case .mapping = self { return true }
        return false
    }
}
