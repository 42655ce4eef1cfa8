// An arbitrary JSON-like value, for fields whose content SwiftMesh keeps but does not interpret.

/// Any YAML/JSON value. Used for Kubernetes bookkeeping fields (`status`, `managedFields`) and
/// for MeshConfig settings that Istio defines but SwiftMesh does not act on.
public indirect enum ConfigValue: Hashable, Sendable, Codable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case list([ConfigValue])
    case object([String: ConfigValue])

    public init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Double.self) {
            self = .number(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([ConfigValue].self) {
            self = .list(value)
        } else {
            self = .object(try container.decode([String: ConfigValue].self))
        }
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let value): try container.encode(value)
        case .number(let value):
            if value == value.rounded(), abs(value) < 1e15 {
                try container.encode(Int64(value))
            } else {
                try container.encode(value)
            }
        case .string(let value): try container.encode(value)
        case .list(let value): try container.encode(value)
        case .object(let value): try container.encode(value)
        }
    }

    init(node: ConfigNode) {
        switch node {
        case .scalar(let text, let kind, _):
            switch kind {
            case .null: self = .null
            case .boolean: self = .bool(PlainScalar.booleanValue(text) ?? false)
            case .integer: self = .number(PlainScalar.integerValue(text).map(Double.init) ?? Double(text) ?? 0)
            case .float: self = .number(PlainScalar.floatValue(text) ?? 0)
            case .string: self = .string(text)
            }
        case .sequence(let items, _):
            self = .list(items.map(ConfigValue.init(node:)))
        case .mapping(let entries, _):
            var object: [String: ConfigValue] = [:]
            for entry in entries { object[entry.key] = ConfigValue(node: entry.value) }
            self = .object(object)
        }
    }
}
