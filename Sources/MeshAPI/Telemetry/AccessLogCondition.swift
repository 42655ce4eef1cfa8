// The access-log filter expressions SwiftMesh translates: a subset of CEL that Envoy's native access-log filters can express.

/// A Telemetry `accessLogging.filter.expression` in the form ConfigGen turns into Envoy's own
/// access-log filters (`status_code_filter`, `duration_filter`, `header_filter`,
/// `grpc_status_filter`, `and_filter`, `or_filter`), which every Envoy and meshproxy evaluate
/// without a CEL engine. Istio hands the expression to a CEL extension instead; the basic cases
/// mean the same either way:
///
///     response.code >= 400
///     response.code >= 500 || request.duration > duration("1s")
///     request.headers['x-debug'] == 'on' && request.method != 'GET'
///     'x-canary' in request.headers
public indirect enum AccessLogCondition: Hashable, Sendable {
    public enum Comparison: String, Hashable, Sendable {
        case equal = "==", notEqual = "!=", atLeast = ">=", greater = ">", atMost = "<=", less = "<"

        /// The comparison seen from the other side (`5 < x` is `x > 5`).
        var flipped: Comparison {
            switch self {
            case .equal, .notEqual: self
            case .atLeast: .atMost
            case .greater: .less
            case .atMost: .atLeast
            case .less: .greater
            }
        }
    }

    public enum HeaderTest: Hashable, Sendable {
        case present
        case equals(String)
        case notEquals(String)
    }

    case all([AccessLogCondition])
    case any([AccessLogCondition])
    case responseCode(Comparison, Int)
    /// The request's total duration against a bound in milliseconds.
    case duration(Comparison, milliseconds: Int)
    /// `==` or `!=` only.
    case grpcStatus(Comparison, Int)
    /// A request header by lowercase name; `:method`, `:authority` and `:path` for `request.method`,
    /// `request.host` and `request.path`.
    case header(String, HeaderTest)

    /// What the translatable forms are, for error messages.
    public static let supportedForms = "comparisons of response.code, response.grpc_status, request.duration (with duration(\"1s\")), "
        + "request.method, request.host, request.path and request.headers['name'], or 'name' in request.headers, joined by && and || with parentheses"

    /// The condition `expression` states, or why it is not one SwiftMesh translates.
    public static func parse(_ expression: String) -> Result<AccessLogCondition, ConditionError> {
        do {
            var parser = Parser(tokens: try tokenize(expression))
            let condition = try parser.parseOr()
            if let extra = parser.peek { throw ConditionError("unexpected \(extra.shown) after a complete condition") }
            return .success(condition)
        } catch let error as ConditionError {
            return .failure(error)
        } catch {
            return .failure(ConditionError("\(error)"))
        }
    }

    public struct ConditionError: Error, Equatable, CustomStringConvertible {
        public var description: String
        init(_ description: String) { self.description = description }
    }

    // MARK: - Tokens

    enum Token: Equatable {
        case name(String)
        case string(String)
        case integer(Int)
        case symbol(String)

        var shown: String {
            switch self {
            case .name(let name): "\"\(name)\""
            case .string(let text): "'\(text)'"
            case .integer(let number): String(number)
            case .symbol(let symbol): "\"\(symbol)\""
            }
        }
    }

    static func tokenize(_ text: String) throws -> [Token] {
        var tokens: [Token] = []
        var characters = Array(text)[...]
        while let character = characters.first {
            if character.isWhitespace { characters.removeFirst(); continue }
            if character.isLetter || character == "_" {
                var name = ""
                while let next = characters.first, next.isLetter || next.isNumber || next == "_" { name.append(next); characters.removeFirst() }
                tokens.append(.name(name))
            } else if character.isNumber {
                var digits = ""
                while let next = characters.first, next.isNumber { digits.append(next); characters.removeFirst() }
                guard let number = Int(digits) else { throw ConditionError("number \(digits) is too large") }
                tokens.append(.integer(number))
            } else if character == "'" || character == "\"" {
                characters.removeFirst()
                var value = ""
                var closed = false
                while let next = characters.popFirst() {
                    if next == character { closed = true; break }
                    if next == "\\", let escaped = characters.popFirst() { value.append(escaped); continue }
                    value.append(next)
                }
                guard closed else { throw ConditionError("a string is not closed") }
                tokens.append(.string(value))
            } else {
                let pair = characters.count >= 2 ? String(characters.prefix(2)) : ""
                if ["==", "!=", ">=", "<=", "&&", "||"].contains(pair) {
                    tokens.append(.symbol(pair))
                    characters.removeFirst(2)
                } else if "<>()[].!".contains(character) {
                    tokens.append(.symbol(String(character)))
                    characters.removeFirst()
                } else {
                    throw ConditionError("unexpected character \"\(character)\"")
                }
            }
        }
        return tokens
    }

    // MARK: - Parser

    struct Parser {
        var tokens: [Token]
        var position = 0

        var peek: Token? { position < tokens.count ? tokens[position] : nil }

        mutating func next() -> Token? {
            defer { position += 1 }
            return peek
        }

        mutating func take(_ symbol: String) -> Bool {
            guard peek == .symbol(symbol) else { return false }
            position += 1
            return true
        }

        mutating func parseOr() throws -> AccessLogCondition {
            var terms = [try parseAnd()]
            while take("||") { terms.append(try parseAnd()) }
            return terms.count == 1 ? terms[0] : .any(terms.flatMap { if case .any(let inner) = $0 { inner } else { [$0] } })
        }

        mutating func parseAnd() throws -> AccessLogCondition {
            var terms = [try parsePrimary()]
            while take("&&") { terms.append(try parsePrimary()) }
            return terms.count == 1 ? terms[0] : .all(terms.flatMap { if case .all(let inner) = $0 { inner } else { [$0] } })
        }

        mutating func parsePrimary() throws -> AccessLogCondition {
            if take("(") {
                let inner = try parseOr()
                guard take(")") else { throw ConditionError("a \"(\" is not closed") }
                return inner
            }
            if peek == .symbol("!") { throw ConditionError("negation with ! has no equivalent among Envoy's access-log filters; use != instead") }
            let left = try parseOperand()
            if case .literal(.string(let name)) = left, case .name("in")? = peek {
                position += 1
                let right = try parseOperand()
                guard case .attribute("request.headers", nil) = right else {
                    throw ConditionError("'\(name)' in ... is translated only for request.headers")
                }
                return .header(name.lowercased(), .present)
            }
            guard case .symbol(let symbol)? = next(), let comparison = Comparison(rawValue: symbol) else {
                throw ConditionError("expected a comparison (==, !=, >=, >, <=, <) after \(left.shown)")
            }
            let right = try parseOperand()
            switch (left, right) {
            case (.attribute(let name, let key), .literal(let value)): return try condition(name, key: key, comparison, value)
            case (.literal(let value), .attribute(let name, let key)): return try condition(name, key: key, comparison.flipped, value)
            default: throw ConditionError("a comparison needs one attribute and one literal (\(left.shown) \(symbol) \(right.shown))")
            }
        }

        enum Literal { case integer(Int), string(String), milliseconds(Int) }

        enum Operand {
            case attribute(String, String?)
            case literal(Literal)

            var shown: String {
                switch self {
                case .attribute(let name, let key): key.map { "\(name)['\($0)']" } ?? name
                case .literal(.integer(let number)): String(number)
                case .literal(.string(let text)): "'\(text)'"
                case .literal(.milliseconds(let ms)): "duration(\"\(ms)ms\")"
                }
            }
        }

        mutating func parseOperand() throws -> Operand {
            switch next() {
            case .integer(let number)?: return .literal(.integer(number))
            case .string(let text)?: return .literal(.string(text))
            case .name("duration")?:
                guard take("("), case .string(let text)? = next(), take(")") else {
                    throw ConditionError("duration needs one string argument: duration(\"1s\")")
                }
                return .literal(.milliseconds(try Self.milliseconds(text)))
            case .name(let first)?:
                var name = first
                while take(".") {
                    guard case .name(let part)? = next() else { throw ConditionError("\".\" must be followed by a name") }
                    name += "." + part
                }
                var key: String?
                if take("[") {
                    guard case .string(let text)? = next(), take("]") else { throw ConditionError("\(name)[...] needs a quoted name") }
                    key = text.lowercased()
                }
                return .attribute(name, key)
            case let other?: throw ConditionError("unexpected \(other.shown)")
            case nil: throw ConditionError("the expression ends too early")
            }
        }

        func condition(_ name: String, key: String?, _ comparison: Comparison, _ value: Literal) throws -> AccessLogCondition {
            switch (name, key, value) {
            case ("response.code", nil, .integer(let code)): return .responseCode(comparison, code)
            case ("response.grpc_status", nil, .integer(let status)):
                guard comparison == .equal || comparison == .notEqual else { throw ConditionError("response.grpc_status is compared with == or != only") }
                return .grpcStatus(comparison, status)
            case ("request.duration", nil, .milliseconds(let ms)): return .duration(comparison, milliseconds: ms)
            case (_, _, .string(let text)) where headerName(name, key: key) != nil:
                let header = headerName(name, key: key)!
                switch comparison {
                case .equal: return .header(header, .equals(text))
                case .notEqual: return .header(header, .notEquals(text))
                default: throw ConditionError("\(name) is compared with == or != only")
                }
            default:
                throw ConditionError("\(Operand.attribute(name, key).shown) \(comparison.rawValue) \(Operand.literal(value).shown) is not one SwiftMesh translates")
            }
        }

        /// The header an attribute reads: `request.headers['x']`, or the pseudo-header of
        /// `request.method`, `request.host` and `request.path`.
        func headerName(_ name: String, key: String?) -> String? {
            switch (name, key) {
            case ("request.headers", let header?): header
            case ("request.method", nil): ":method"
            case ("request.host", nil): ":authority"
            case ("request.path", nil): ":path"
            default: nil
            }
        }

        /// `"1s"`, `"250ms"`, `"1.5s"`, `"2m"`, `"1h"` in milliseconds.
        static func milliseconds(_ text: String) throws -> Int {
            let units: [(String, Double)] = [("ms", 1), ("us", 0.001), ("ns", 0.000001), ("s", 1000), ("m", 60_000), ("h", 3_600_000)]
            for (unit, factor) in units where text.hasSuffix(unit) {
                if let value = Double(text.dropLast(unit.count)), value >= 0 { return Int((value * factor).rounded()) }
            }
            throw ConditionError("duration \"\(text)\" is not a duration such as \"1s\" or \"250ms\"")
        }
    }
}
