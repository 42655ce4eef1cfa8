// Resolution of plain (unquoted) YAML scalars as Kubernetes' YAML reader resolves them.

enum PlainScalar {
    private static let nulls: Set<String> = ["", "~", "null", "Null", "NULL"]
    private static let booleans: Set<String> = [
        "true", "True", "TRUE", "false", "False", "FALSE",
        "yes", "Yes", "YES", "no", "No", "NO", "on", "On", "ON", "off", "Off", "OFF",
        "y", "Y", "n", "N",
    ]

    static func kind(of text: String) -> ConfigNode.ScalarKind {
        if nulls.contains(text) { return .null }
        if booleans.contains(text) { return .boolean }
        if isInteger(text) { return .integer }
        if isFloat(text) { return .float }
        return .string
    }

    static func isInteger(_ text: String) -> Bool {
        var body = Substring(text)
        if body.first == "-" || body.first == "+" { body = body.dropFirst() }
        if body.isEmpty { return false }
        if body.hasPrefix("0x") { return body.count > 2 && body.dropFirst(2).allSatisfy(\.isHexDigit) }
        if body.hasPrefix("0o") { return body.count > 2 && body.dropFirst(2).allSatisfy { ("0"..."7").contains($0) } }
        return body.allSatisfy { $0.isASCII && $0.isNumber } || (body.contains("_") && body.allSatisfy { ($0.isASCII && $0.isNumber) || $0 == "_" } && body.first != "_")
    }

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
        var index = text.startIndex
        if index < text.endIndex, text[index] == "-" || text[index] == "+" { index = text.index(after: index) }
        while index < text.endIndex {
            let character = text[index]
            if character.isASCII && character.isNumber {
                sawDigit = true
            } else if character == "." && !sawDot && !sawExponent {
                sawDot = true
            } else if (character == "e" || character == "E") && sawDigit && !sawExponent {
                sawExponent = true
                let next = text.index(after: index)
                if next < text.endIndex, text[next] == "-" || text[next] == "+" { index = next }
                sawDigit = false
            } else if character == "_" {
                // YAML 1.1 allows digit separators.
            } else {
                return false
            }
            index = text.index(after: index)
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
