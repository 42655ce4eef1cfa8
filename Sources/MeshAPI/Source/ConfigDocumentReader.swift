// Composes libyaml's events into located documents, without recursion and within limits.

import CLibYAML
import Foundation

/// Turns the bytes of a configuration file into documents. JSON is read as YAML (a JSON text
/// is a YAML flow document), so both keep line and column positions.
public struct ConfigDocumentReader: Sendable {
    /// Deeper documents are refused: everything that walks a node tree recurses once per level,
    /// and Istio resources nest about 12 levels deep.
    public var maximumDepth = 100
    /// Nodes per file beyond what its text can hold, counted after aliases are expanded, so
    /// `&a [*b, *b, ...]` bombs stop early. Without aliases a file has fewer nodes than bytes.
    public var aliasExpansionAllowance = 10_000

    public init() {}

    /// One YAML document of a file.
    public struct Document: Sendable {
        public var root: ConfigNode
        /// Position of the document in its file, from 0.
        public var index: Int
    }

    /// Reads every document of `data`. A problem that makes the file unreadable is returned as
    /// an error diagnostic; documents before the problem are still returned.
    public func read(_ data: Data, file: String) -> (documents: [Document], diagnostics: [Diagnostic]) {
        var bytes = [UInt8](data)
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { bytes.removeFirst(3) }
        // Some editors and shells (PowerShell's `>`) write UTF-16 with a byte-order mark.
        if bytes.starts(with: [0xFF, 0xFE]) || bytes.starts(with: [0xFE, 0xFF]) {
            let encoding: String.Encoding = bytes[0] == 0xFF ? .utf16LittleEndian : .utf16BigEndian
            guard let text = String(data: Data(bytes.dropFirst(2)), encoding: encoding) else {
                return ([], [Diagnostic(.error, "file starts with a UTF-16 byte-order mark but is not valid UTF-16", at: SourceLocation(file: file, line: 1, column: 1))])
            }
            bytes = Array(text.utf8)
        }
        if let offset = Self.firstInvalidUTF8(bytes) {
            let location = Self.location(ofUTF8Offset: offset, in: bytes, file: file)
            let byte = offset < bytes.count ? String(format: "0x%02X", bytes[offset]) : "end of file"
            return ([], [Diagnostic(.error, "file is not valid UTF-8 (byte \(byte) at offset \(offset))", at: location)])
        }
        return read(bytes: bytes, file: file)
    }

    /// Reads every document of `text`, named `file` in diagnostics.
    public func read(_ text: String, file: String) -> (documents: [Document], diagnostics: [Diagnostic]) {
        read(bytes: Array(text.utf8), file: file)
    }

    private func read(bytes: [UInt8], file: String) -> (documents: [Document], diagnostics: [Diagnostic]) {
        var composer = Composer(file: file, maximumDepth: maximumDepth, nodeBudget: 4 * bytes.count + aliasExpansionAllowance)
        var parser = yaml_parser_t()
        guard yaml_parser_initialize(&parser) == 1 else {
            return ([], [Diagnostic(.error, "cannot start the YAML parser (out of memory)", at: SourceLocation(file: file, line: 1, column: 1))])
        }
        defer { yaml_parser_delete(&parser) }
        return bytes.withUnsafeBufferPointer { buffer in
            yaml_parser_set_input_string(&parser, buffer.baseAddress, buffer.count)
            yaml_parser_set_encoding(&parser, YAML_UTF8_ENCODING)
            var event = yaml_event_t()
            while true {
                guard yaml_parser_parse(&parser, &event) == 1 else {
                    return (composer.documents, composer.problems + [Self.syntaxDiagnostic(parser, file: file, bytes: bytes)])
                }
                let outcome = composer.consume(&event)
                yaml_event_delete(&event)
                switch outcome {
                case .more: continue
                case .finished: return (composer.documents, composer.problems)
                case .failed(let diagnostic): return (composer.documents, composer.problems + [diagnostic])
                }
            }
        }
    }

    private static func syntaxDiagnostic(_ parser: yaml_parser_t, file: String, bytes: [UInt8]) -> Diagnostic {
        let problem = parser.problem.map { String(cString: $0) } ?? "unknown problem"
        if parser.error == YAML_READER_ERROR {
            return Diagnostic(.error, "cannot read text: \(problem)",
                              at: location(ofUTF8Offset: parser.problem_offset, in: bytes, file: file))
        }
        var message = "YAML syntax error: \(problem)"
        if let context = parser.context {
            message += " (\(String(cString: context)) at line \(parser.context_mark.line + 1), column \(parser.context_mark.column + 1))"
        }
        return Diagnostic(.error, message, at: SourceLocation(file: file, line: parser.problem_mark.line + 1, column: parser.problem_mark.column + 1))
    }

    static func firstInvalidUTF8(_ bytes: [UInt8]) -> Int? {
        var iterator = bytes.makeIterator()
        var decoder = UTF8()
        var position = 0
        while true {
            switch decoder.decode(&iterator) {
            case .scalarValue(let scalar): position += UTF8.width(scalar)
            case .emptyInput: return nil
            case .error: return position
            }
        }
    }

    static func location(ofUTF8Offset offset: Int, in bytes: [UInt8], file: String) -> SourceLocation {
        var line = 1
        var column = 1
        for index in 0..<min(offset, bytes.count) {
            if bytes[index] == UInt8(ascii: "\n") {
                line += 1
                column = 1
            } else if bytes[index] & 0xC0 != 0x80 {
                column += 1  // columns count characters, as libyaml's do, not bytes
            }
        }
        return SourceLocation(file: file, line: line, column: column)
    }

    /// Resolves a scalar as Kubernetes' YAML reader does (YAML 1.1): quoted and block scalars
    /// are strings; plain ones may be null, booleans or numbers; explicit tags decide.
    static func kind(tag: String?, plain: Bool, text: String) -> ConfigNode.ScalarKind {
        switch tag {
        case "tag:yaml.org,2002:str", "!": return .string
        case "tag:yaml.org,2002:int": return .integer
        case "tag:yaml.org,2002:float": return .float
        case "tag:yaml.org,2002:bool": return .boolean
        case "tag:yaml.org,2002:null": return .null
        // A tag of the application's own (`!custom`) leaves the text a string, as in Go's reader.
        default: return tag == nil && plain ? PlainScalar.kind(of: text) : .string
        }
    }
}

/// Builds node trees from parser events with an explicit stack of open collections.
private struct Composer {
    enum Outcome {
        case more
        case finished
        case failed(Diagnostic)
    }

    /// What the next node completes in an open mapping.
    private enum MappingSlot {
        case key
        case value(String, SourceLocation)
        /// The value of `<<`: mappings whose entries are merged in.
        case merge(SourceLocation)
        /// The value of a key that was rejected; it is read and dropped.
        case discard
    }

    private enum Collection {
        case sequence([ConfigNode])
        case mapping([ConfigNode.Entry], slot: MappingSlot, keys: Set<String>, merged: [ConfigNode.Entry], mergedKeys: Set<String>)
    }

    private struct Frame {
        var collection: Collection
        var location: SourceLocation
        var anchor: String?
        /// Nodes below this one, to charge an alias that repeats it.
        var size: Int
        /// Levels below this one, so an alias cannot bring in more depth than allowed.
        var height: Int
    }

    let file: String
    let maximumDepth: Int
    var nodeBudget: Int
    let nodeLimit: Int
    private var stack: [Frame] = []
    private var anchors: [String: (node: ConfigNode, size: Int, height: Int)] = [:]
    private var root: ConfigNode?
    private(set) var documents: [ConfigDocumentReader.Document] = []
    /// Problems that leave the rest of the file readable (a duplicate key, a bad tag).
    private(set) var problems: [Diagnostic] = []

    init(file: String, maximumDepth: Int, nodeBudget: Int) {
        self.file = file
        self.maximumDepth = maximumDepth
        self.nodeBudget = nodeBudget
        self.nodeLimit = nodeBudget
    }

    private func location(_ mark: yaml_mark_t) -> SourceLocation {
        SourceLocation(file: file, line: mark.line + 1, column: mark.column + 1)
    }

    private static func string(_ pointer: UnsafeMutablePointer<yaml_char_t>?) -> String? {
        pointer.map { String(cString: UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self)) }
    }

    mutating func consume(_ event: inout yaml_event_t) -> Outcome {
        let at = location(event.start_mark)
        switch event.type {
        case YAML_STREAM_START_EVENT, YAML_DOCUMENT_START_EVENT, YAML_NO_EVENT:
            return .more
        case YAML_DOCUMENT_END_EVENT:
            documents.append(.init(root: root ?? .scalar("", .null, at), index: documents.count))
            root = nil
            anchors = [:]  // anchors do not cross documents
            return .more
        case YAML_STREAM_END_EVENT:
            return .finished
        case YAML_SCALAR_EVENT:
            let scalar = event.data.scalar
            let text = String(decoding: UnsafeBufferPointer(start: scalar.value, count: scalar.length), as: UTF8.self)
            let plain = scalar.style == YAML_PLAIN_SCALAR_STYLE || scalar.style == YAML_ANY_SCALAR_STYLE
            let tag = Self.string(scalar.tag)
            var kind = ConfigDocumentReader.kind(tag: tag, plain: plain, text: text)
            let written = PlainScalar.kind(of: text)
            if let tag, kind != .string, written != kind, !(kind == .float && written == .integer) {
                // A tag that does not fit its text (`!!int abc`) is set aside: the value is read
                // as written, and the decoder judges it like any other.
                let shortTag = tag.hasPrefix("tag:yaml.org,2002:") ? "!!" + tag.dropFirst("tag:yaml.org,2002:".count) : tag
                problems.append(Diagnostic(.warning, "the tag \(shortTag) does not fit \"\(text.truncatedForDisplay)\"; the value is read as written", at: at))
                kind = plain ? written : .string
            }
            let node = ConfigNode.scalar(text, kind, at)
            if let anchor = Self.string(scalar.anchor) { anchors[anchor] = (node, 1, 1) }
            return complete(node, size: 1, height: 1, charge: 1, plainKey: plain)
        case YAML_ALIAS_EVENT:
            let name = Self.string(event.data.alias.anchor) ?? ""
            guard let (node, size, height) = anchors[name] else {
                problems.append(Diagnostic(.error, "YAML alias *\(name) refers to no anchor defined before it", at: at))
                return complete(.scalar("", .null, at), size: 1, height: 1, charge: 1, plainKey: false)
            }
            if stack.count + height > maximumDepth {
                return .failed(Diagnostic(.error, "document nests more than \(maximumDepth) levels deep (through alias *\(name)); refusing to read it", at: at))
            }
            // The repeated node is placed where the alias is written; what is inside it keeps
            // the positions where it was written.
            return complete(node.placed(at: at), size: size, height: height, charge: size, plainKey: false)
        case YAML_SEQUENCE_START_EVENT:
            return open(.sequence([]), at, anchor: Self.string(event.data.sequence_start.anchor))
        case YAML_MAPPING_START_EVENT:
            return open(.mapping([], slot: .key, keys: [], merged: [], mergedKeys: []), at, anchor: Self.string(event.data.mapping_start.anchor))
        case YAML_SEQUENCE_END_EVENT, YAML_MAPPING_END_EVENT:
            let frame = stack.removeLast()
            let node: ConfigNode
            switch frame.collection {
            case .sequence(let items):
                node = .sequence(items, frame.location)
            case .mapping(var entries, _, var keys, let merged, _):
                // Merged entries fill in keys the mapping does not set itself.
                for entry in merged where keys.insert(entry.key).inserted { entries.append(entry) }
                node = .mapping(entries, frame.location)
            }
            if let anchor = frame.anchor { anchors[anchor] = (node, frame.size + 1, frame.height + 1) }
            return complete(node, size: frame.size + 1, height: frame.height + 1, charge: 1, plainKey: false)
        default:
            return .more
        }
    }

    private mutating func open(_ collection: Collection, _ at: SourceLocation, anchor: String?) -> Outcome {
        if stack.count >= maximumDepth {
            return .failed(Diagnostic(.error, "document nests more than \(maximumDepth) levels deep; refusing to read it", at: at))
        }
        stack.append(Frame(collection: collection, location: at, anchor: anchor, size: 0, height: 0))
        return .more
    }

    /// Attaches a finished node to the open collection, or makes it the document's root.
    /// `charge` is what the node costs the budget now: one for what the text spells out, the
    /// whole repeated subtree for an alias.
    private mutating func complete(_ node: ConfigNode, size: Int, height: Int, charge: Int, plainKey: Bool) -> Outcome {
        nodeBudget -= charge
        if nodeBudget < 0 {
            return .failed(Diagnostic(.error, "YAML aliases expand this file to more than \(nodeLimit) nodes; refusing to read it", at: node.location))
        }
        guard var frame = stack.popLast() else {
            root = node
            return .more
        }
        frame.size += size
        frame.height = max(frame.height, height)
        let collection = frame.collection
        // Drop the frame's reference first, so the arrays below are unique and append in place.
        frame.collection = .sequence([])
        switch consume collection {
        case .sequence(var items):
            items.append(node)
            frame.collection = .sequence(items)
        case .mapping(var entries, let slot, var keys, var merged, var mergedKeys):
            var next = MappingSlot.key
            switch slot {
            case .value(let key, let keyLocation):
                entries.append(ConfigNode.Entry(key: key, keyLocation: keyLocation, value: node))
            case .merge(let mergeLocation):
                let sources: [ConfigNode]
                switch node {
                case .mapping: sources = [node]
                case .sequence(let items, _): sources = items
                default: sources = []
                }
                for source in sources {
                    guard case .mapping(let sourceEntries, _) = source else {
                        problems.append(Diagnostic(.error, "a merge key (<<) takes a mapping or a list of mappings, found \(source.describedForError)", at: mergeLocation))
                        continue
                    }
                    // Earlier sources win, as YAML's merge key defines.
                    merged += sourceEntries.filter { mergedKeys.insert($0.key).inserted }
                }
                if case .scalar = node {
                    problems.append(Diagnostic(.error, "a merge key (<<) takes a mapping or a list of mappings, found \(node.describedForError)", at: mergeLocation))
                }
            case .discard:
                break
            case .key:
                if case .scalar(let key, _, let keyLocation) = node {
                    if key == "<<" && plainKey {
                        next = .merge(keyLocation)
                    } else if keys.insert(key).inserted {
                        next = .value(key, keyLocation)
                    } else {
                        problems.append(Diagnostic(.error, "duplicate key \"\(key.truncatedForDisplay)\" in one mapping; the second is ignored", at: keyLocation))
                        next = .discard
                    }
                } else {
                    problems.append(Diagnostic(.error, "mapping keys must be strings, found \(node.describedForError) as a key", at: node.location))
                    next = .discard
                }
            }
            frame.collection = .mapping(entries, slot: next, keys: keys, merged: merged, mergedKeys: mergedKeys)
        }
        stack.append(frame)
        return .more
    }
}
