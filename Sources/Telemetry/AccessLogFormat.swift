// An access-log line format (Envoy's text format string or JSON format), compiled once and rendered per request.

/// A compiled `log_format`. Parsing happens when config arrives, so a bad format is a NACK and
/// rendering walks a ready list of parts.
public enum AccessLogFormat: Sendable, Equatable {
    /// A format string; the line is exactly what it renders (Istio's ends with `\n`).
    case text([FormatPart], omitEmpty: Bool)
    /// One JSON object per line.
    case json([JSONField], omitEmpty: Bool)

    /// A literal run of text or a command operator, with an optional maximum length (`%REQ(x):10%`).
    public enum FormatPart: Sendable, Equatable {
        case literal(String)
        case command(CommandOperator, maxLength: Int?)
    }

    /// One member of a JSON format: a format string (a lone operator keeps its type: numbers
    /// stay numbers), a nested object, or a literal JSON value.
    public struct JSONField: Sendable, Equatable {
        public enum Value: Sendable, Equatable {
            case format([FormatPart])
            case object([JSONField])
            /// A number, `true`, `false` or `null` from the config, already in JSON.
            case literal(String)
        }
        public var key: String
        public var value: Value
        public init(key: String, value: Value) {
            self.key = key
            self.value = value
        }
    }

    /// Envoy's own default (`log_format` unset).
    public static let envoyDefault = try! AccessLogFormat.text(
        "[%START_TIME%] \"%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%\" %RESPONSE_CODE% %RESPONSE_FLAGS% "
            + "%BYTES_RECEIVED% %BYTES_SENT% %DURATION% %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% \"%REQ(X-FORWARDED-FOR)%\" "
            + "\"%REQ(USER-AGENT)%\" \"%REQ(X-REQUEST-ID)%\" \"%REQ(:AUTHORITY)%\" \"%UPSTREAM_HOST%\"\n")

    public static func text(_ format: String, omitEmpty: Bool = false) throws(FormatError) -> AccessLogFormat {
        .text(try parse(format), omitEmpty: omitEmpty)
    }

    /// Splits a format string into literals and command operators, by Envoy's syntax:
    /// `%NAME%`, `%NAME(argument)%`, `%NAME(argument):N%`; `%%` is a literal `%`.
    public static func parse(_ format: String) throws(FormatError) -> [FormatPart] {
        var parts: [FormatPart] = []
        var literal = ""
        let characters = Array(format)
        var index = 0
        func fail(_ why: String) -> FormatError {
            FormatError("format \"\(format.count > 80 ? format.prefix(77) + "..." : format)\": \(why) at position \(index)")
        }
        while index < characters.count {
            let character = characters[index]
            guard character == "%" else {
                literal.append(character)
                index += 1
                continue
            }
            if index + 1 < characters.count, characters[index + 1] == "%" {
                literal.append("%")
                index += 2
                continue
            }
            var cursor = index + 1
            var name = ""
            while cursor < characters.count, characters[cursor].isASCII,
                  characters[cursor].isUppercase || characters[cursor].isNumber || characters[cursor] == "_" {
                name.append(characters[cursor])
                cursor += 1
            }
            guard !name.isEmpty else { throw fail("no command operator after %") }
            var argument: String?
            if cursor < characters.count, characters[cursor] == "(" {
                guard let close = characters[cursor...].firstIndex(of: ")") else { throw fail("unclosed ( in %\(name)") }
                argument = String(characters[(cursor + 1)..<close])
                cursor = close + 1
            }
            var maxLength: Int?
            if cursor < characters.count, characters[cursor] == ":" {
                var digits = ""
                cursor += 1
                while cursor < characters.count, let digit = characters[cursor].wholeNumberValue, characters[cursor].isASCII {
                    digits.append(String(digit))
                    cursor += 1
                }
                guard let length = Int(digits), length > 0 else { throw fail("%\(name)...: needs a positive length after :") }
                maxLength = length
            }
            guard cursor < characters.count, characters[cursor] == "%" else { throw fail("%\(name) is not closed by %") }
            let command: CommandOperator
            do {
                command = try CommandOperator.make(name: name, argument: argument)
            } catch {
                throw fail(error.description)
            }
            if !literal.isEmpty { parts.append(.literal(literal)); literal = "" }
            parts.append(.command(command, maxLength: maxLength))
            index = cursor + 1
        }
        if !literal.isEmpty { parts.append(.literal(literal)) }
        return parts
    }

    /// Appends the line for `record` to `line`.
    public func render(_ record: AccessLogRecord, into line: inout [UInt8]) {
        switch self {
        case .text(let parts, let omitEmpty):
            for part in parts {
                switch part {
                case .literal(let text): line.append(contentsOf: text.utf8)
                case .command(let command, let maxLength):
                    switch command.value(record) {
                    case .number(let number): DecimalText.append(number, to: &line)
                    case .missing: if !omitEmpty { line.append(UInt8(ascii: "-")) }
                    case let text: Self.appendText(text, maxLength: maxLength, to: &line)
                    }
                }
            }
        case .json(let fields, let omitEmpty):
            Self.renderObject(fields, record: record, omitEmpty: omitEmpty, into: &line)
            line.append(UInt8(ascii: "\n"))
        }
    }

    private static func renderObject(_ fields: [JSONField], record: AccessLogRecord, omitEmpty: Bool, into line: inout [UInt8]) {
        line.append(UInt8(ascii: "{"))
        var first = true
        for field in fields {
            var value: [UInt8] = []
            switch field.value {
            case .literal(let json): value.append(contentsOf: json.utf8)
            case .object(let nested): renderObject(nested, record: record, omitEmpty: omitEmpty, into: &value)
            case .format(let parts):
                if parts.count == 1, case .command(let command, let maxLength) = parts[0] {
                    switch command.value(record) {
                    case .number(let number): DecimalText.append(number, to: &value)
                    case .missing:
                        if omitEmpty { continue }
                        value.append(contentsOf: "null".utf8)
                    case let text:
                        var raw: [UInt8] = []
                        appendText(text, maxLength: maxLength, to: &raw)
                        appendJSONString(raw, to: &value)
                    }
                } else {
                    var raw: [UInt8] = []
                    AccessLogFormat.text(parts, omitEmpty: omitEmpty).render(record, into: &raw)
                    appendJSONString(raw, to: &value)
                }
            }
            if !first { line.append(UInt8(ascii: ",")) }
            first = false
            appendJSONString(Array(field.key.utf8), to: &line)
            line.append(UInt8(ascii: ":"))
            line.append(contentsOf: value)
        }
        line.append(UInt8(ascii: "}"))
    }

    /// A text-like value (text, a time, flags), cut to `maxLength` bytes as Envoy cuts it.
    private static func appendText(_ value: CommandOperator.Value, maxLength: Int?, to line: inout [UInt8]) {
        let start = line.count
        switch value {
        case .text(let text): line.append(contentsOf: text.utf8)
        case .time(let format, let microseconds): format.append(microseconds: microseconds, to: &line)
        case .flags(let flags): flags.append(to: &line)
        case .number(let number): DecimalText.append(number, to: &line)
        case .missing: break
        }
        if let maxLength, line.count - start > maxLength { line.removeLast(line.count - start - maxLength) }
    }

    /// A JSON string literal: quotes, backslashes and control bytes escaped.
    static func appendJSONString(_ bytes: [UInt8], to line: inout [UInt8]) {
        let hex = Array("0123456789abcdef".utf8)
        line.append(UInt8(ascii: "\""))
        for byte in bytes {
            switch byte {
            case UInt8(ascii: "\""): line.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
            case UInt8(ascii: "\\"): line.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
            case UInt8(ascii: "\n"): line.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
            case UInt8(ascii: "\r"): line.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
            case UInt8(ascii: "\t"): line.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
            case 0..<0x20:
                line.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"),
                                         hex[Int(byte >> 4)], hex[Int(byte & 0xF)]])
            default: line.append(byte)
            }
        }
        line.append(UInt8(ascii: "\""))
    }
}
