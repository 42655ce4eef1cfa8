// HTTP header names and values as routes match and edit them.

enum HeaderRule {
    /// RFC 7230 token characters.
    static func nameProblem(_ name: String) -> String? {
        if name.isEmpty { return "header name cannot be empty" }
        let allowed = Set("!#$%&'*+-.^_`|~".utf8)
        let valid = name.utf8.allSatisfy { ($0 >= 48 && $0 <= 57) || ($0 >= 65 && $0 <= 90) || ($0 >= 97 && $0 <= 122) || allowed.contains($0) }
        return valid ? nil : "\"\(name.truncatedForDisplay)\" is not a valid HTTP header name"
    }

    static let pseudoHeaders: Set<String> = [":method", ":scheme", ":authority", ":path", ":status"]

    /// Keys of `headers` / `withoutHeaders` matches: header names, pseudo headers, or JWT claims
    /// (`@request.auth.claims.group`).
    static func matchKeyProblem(_ name: String) -> String? {
        if pseudoHeaders.contains(name.lowercased()) { return nil }
        if name.lowercased().hasPrefix("@request.auth.claims") {
            let rest = name.dropFirst("@request.auth.claims".count)
            if (rest.hasPrefix(".") && rest.count > 1) || (rest.hasPrefix("[") && rest.hasSuffix("]") && rest.count > 2) { return nil }
            return "\"\(name)\" is not a valid JWT claim reference; write @request.auth.claims.NAME or @request.auth.claims[NAME]"
        }
        return nameProblem(name)
    }

    /// Values Envoy will accept: no control characters other than tab, and `%` only as `%%` or
    /// around a variable (`%HOSTNAME%`, `%REQ(x-id)%`), which Envoy expands.
    static func valueProblem(_ value: String) -> String? {
        for scalar in value.unicodeScalars where (scalar.value < 0x20 && scalar.value != 0x09) || scalar.value == 0x7F {
            return "header value \"\(value.truncatedForDisplay)\" contains a control character"
        }
        let bytes = Array(value.utf8)
        var index = 0
        while index < bytes.count {
            guard bytes[index] == UInt8(ascii: "%") else {
                index += 1
                continue
            }
            if index + 1 < bytes.count, bytes[index + 1] == UInt8(ascii: "%") {
                index += 2
                continue
            }
            var end = index + 1
            while end < bytes.count, isVariableCharacter(bytes[end]) { end += 1 }
            if end == index + 1 {
                return "header value \"\(value.truncatedForDisplay)\" has an unescaped %; write %% for a literal percent sign"
            }
            if end < bytes.count, bytes[end] == UInt8(ascii: "(") {
                guard let close = bytes[end...].firstIndex(of: UInt8(ascii: ")")) else {
                    return "header value \"\(value.truncatedForDisplay)\" has a variable argument without a closing )"
                }
                end = close + 1
            }
            guard end < bytes.count, bytes[end] == UInt8(ascii: "%") else {
                return "header value \"\(value.truncatedForDisplay)\" has an unterminated variable (%NAME% expected); write %% for a literal percent sign"
            }
            index = end + 1
        }
        return nil
    }

    private static func isVariableCharacter(_ byte: UInt8) -> Bool {
        (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z")) || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")) || byte == UInt8(ascii: "_")
    }
}
