// Resolution of plain (unquoted) YAML scalars as Kubernetes' YAML reader resolves them.

enum PlainScalar {
    private static let nulls: Set<String> = ["", "~", "null", "Null", "NULL"]
    private static let booleans: Set<String> = [
        "true", "True", "TRUE", "false", "False", "FALSE",
        "yes", "Yes", "YES", "no", "No", "NO", "on", "On", "ON", "off", "Off", "OFF",
        "y", "Y", "n", "N",
    ]

    static func kind(of text: String) -> ConfigNode.ScalarKind {
        // Most scalars are names; only these first characters can start a null, a boolean or
        // a number, so everything else is a string without further work.
        guard let first = text.utf8.first else { return .null }
        switch first {
        case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "~"),
             UInt8(ascii: "n"), UInt8(ascii: "N"), UInt8(ascii: "t"), UInt8(ascii: "T"), UInt8(ascii: "f"), UInt8(ascii: "F"),
             UInt8(ascii: "y"), UInt8(ascii: "Y"), UInt8(ascii: "o"), UInt8(ascii: "O"):
            break
        default:
            return .string
        }
        if nulls.contains(text) { return .null }
        if booleans.contains(text) { return .boolean }
        if isInteger(text) { return .integer }
        if isFloat(text) { return .float }
        return .string
    }

    private static func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }

    /// Integers proto JSON accepts inside a string (`"9080"`): an optional minus and digits.
    static func isDecimal(_ text: String) -> Bool {
        var body = Substring(text).utf8[...]
        if body.first == UInt8(ascii: "-") { body = body.dropFirst() }
        return !body.isEmpty && body.allSatisfy(isDigit)
    }

    /// YAML 1.1 integers: optional sign, then decimal (with `_` separators), `0x` hex or `0o` octal.
    static func isInteger(_ text: String) -> Bool {
        var body = Substring(text).utf8[...]
        if let sign = body.first, sign == UInt8(ascii: "-") || sign == UInt8(ascii: "+") { body = body.dropFirst() }
        guard let first = body.first else { return false }
        if first == UInt8(ascii: "0"), body.count > 2 {
            let marker = body[body.index(after: body.startIndex)]
            let digits = body.dropFirst(2)
            if marker == UInt8(ascii: "x") {
                return digits.allSatisfy { isDigit($0) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains($0 | 0x20) }
            }
            if marker == UInt8(ascii: "o") {
                return digits.allSatisfy { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "7") }
            }
            if marker == UInt8(ascii: "b") {
                return digits.allSatisfy { $0 == UInt8(ascii: "0") || $0 == UInt8(ascii: "1") }
            }
        }
        return first != UInt8(ascii: "_") && body.allSatisfy { isDigit($0) || $0 == UInt8(ascii: "_") }
    }

    /// YAML 1.1 floats: `1.5`, `-2.`, `.5`, `1e3`, `6.02e+23`, `.inf`, `.nan`.
    static func isFloat(_ text: String) -> Bool {
        switch text {
        case ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", "-.inf", "-.Inf", "-.INF", ".nan", ".NaN", ".NAN":
            return true
        default:
            break
        }
        var sawDigit = false
        var sawDot = false
        var sawExponent = false
        var bytes = Substring(text).utf8[...]
        if let sign = bytes.first, sign == UInt8(ascii: "-") || sign == UInt8(ascii: "+") { bytes = bytes.dropFirst() }
        var previous: UInt8 = 0
        for byte in bytes {
            if isDigit(byte) {
                sawDigit = true
            } else if byte == UInt8(ascii: ".") && !sawDot && !sawExponent {
                sawDot = true
            } else if (byte == UInt8(ascii: "e") || byte == UInt8(ascii: "E")) && sawDigit && !sawExponent {
                sawExponent = true
                sawDigit = false
            } else if (byte == UInt8(ascii: "-") || byte == UInt8(ascii: "+")) && (previous == UInt8(ascii: "e") || previous == UInt8(ascii: "E")) {
                // the exponent's sign
            } else if byte != UInt8(ascii: "_") {
                return false
            }
            previous = byte
        }
        return sawDigit && (sawDot || sawExponent)
    }
}

extension PlainScalar {
    static func booleanValue(_ text: String) -> Bool? {
        switch text {
        case "true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON", "y", "Y": return true
        case "false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF", "n", "N": return false
        default: return nil
        }
    }

    static func integerValue(_ text: String) -> Int64? {
        var body = Substring(text.replacingOccurrences(of: "_", with: ""))
        var negative = false
        if body.first == "-" || body.first == "+" {
            negative = body.first == "-"
            body = body.dropFirst()
        }
        let magnitude: Int64?
        if body.hasPrefix("0x") {
            magnitude = Int64(body.dropFirst(2), radix: 16)
        } else if body.hasPrefix("0o") {
            magnitude = Int64(body.dropFirst(2), radix: 8)
        } else if body.hasPrefix("0b") {
            magnitude = Int64(body.dropFirst(2), radix: 2)
        } else if body.count > 1, body.hasPrefix("0"), body.allSatisfy({ ("0"..."7").contains($0) }) {
            // YAML 1.1, as Kubernetes reads it: a leading zero means octal (`010` is 8).
            magnitude = Int64(body.dropFirst(), radix: 8)
        } else {
            magnitude = Int64(body, radix: 10)
        }
        return magnitude.map { negative ? -$0 : $0 }
    }

    static func floatValue(_ text: String) -> Double? {
        switch text {
        case ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF": return .infinity
        case "-.inf", "-.Inf", "-.INF": return -.infinity
        case ".nan", ".NaN", ".NAN": return .nan
        default: return Double(text.replacingOccurrences(of: "_", with: ""))
        }
    }
}
