// google.protobuf.Duration as Istio's YAML writes it: Go duration text such as "1.5s" or "100ms".

/// A duration from configuration. Keeps its original text so it re-encodes unchanged.
public struct ProtoDuration: Hashable, Sendable, Codable, CustomStringConvertible {
    public var text: String
    /// The duration in nanoseconds; may be negative (validation rejects that where it matters).
    public var nanoseconds: Int64

    /// A duration from Go syntax; throws `DurationSyntaxError` for anything else.
    public init(parsing text: String) throws {
        guard let nanoseconds = Self.parse(text) else {
            throw DurationSyntaxError(text: text)
        }
        self.text = text
        self.nanoseconds = nanoseconds
    }

    public var description: String { text }

    public init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        guard let nanoseconds = Self.parse(text) else { throw DurationSyntaxError(text: text) }
        self.text = text
        self.nanoseconds = nanoseconds
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(text)
    }

    /// Parses Go's duration syntax (what Istio's YAML reader accepts): an optional sign, then
    /// one or more decimal numbers each with a unit of ns, us, µs, ms, s, m or h; or "0".
    static func parse(_ text: String) -> Int64? {
        var scalars = Array(text.unicodeScalars)
        guard !scalars.isEmpty else { return nil }
        var negative = false
        if scalars[0] == "-" || scalars[0] == "+" {
            negative = scalars[0] == "-"
            scalars.removeFirst()
        }
        if scalars == ["0"] { return 0 }
        guard !scalars.isEmpty else { return nil }
        var total: Double = 0
        var index = 0
        while index < scalars.count {
            let numberStart = index
            while index < scalars.count, ("0"..."9").contains(scalars[index]) || scalars[index] == "." { index += 1 }
            let number = String(String.UnicodeScalarView(scalars[numberStart..<index]))
            guard !number.isEmpty, number != ".", number.filter({ $0 == "." }).count <= 1, let value = Double(number) else { return nil }
            let unitStart = index
            while index < scalars.count, !("0"..."9").contains(scalars[index]), scalars[index] != "." { index += 1 }
            let unit = String(String.UnicodeScalarView(scalars[unitStart..<index]))
            let scale: Double
            switch unit {
            case "ns": scale = 1
            case "us", "µs", "μs": scale = 1_000
            case "ms": scale = 1_000_000
            case "s": scale = 1_000_000_000
            case "m": scale = 60_000_000_000
            case "h": scale = 3_600_000_000_000
            default: return nil
            }
            total += value * scale
            guard total < 9.2e18 else { return nil }
        }
        let nanoseconds = Int64(total.rounded())
        return negative ? -nanoseconds : nanoseconds
    }
}

/// A duration that is not Go duration syntax.
public struct DurationSyntaxError: Error, CustomStringConvertible {
    public var text: String
    public var description: String {
        "invalid duration \"\(text.truncatedForDisplay)\"; write a number with a unit, e.g. \"1.5s\", \"100ms\", \"2m\""
    }
}
