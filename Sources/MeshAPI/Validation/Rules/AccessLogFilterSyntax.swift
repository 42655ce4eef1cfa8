// A syntax check of access-log filter expressions before a proxy evaluates them.

import Foundation

/// A syntax check of access-log filter expressions (a CEL subset): balanced brackets and quotes,
/// and not empty. The full expression language is evaluated by the proxy.
enum AccessLogFilterSyntax {
    static func problem(_ expression: String) -> String? {
        if expression.trimmingCharacters(in: .whitespaces).isEmpty { return "filter expression must not be empty" }
        var stack: [Character] = []
        var quote: Character?
        var escaped = false
        for character in expression {
            if let open = quote {
                if escaped { escaped = false } else if character == "\\" { escaped = true } else if character == open { quote = nil }
                continue
            }
            switch character {
            case "\"", "'": quote = character
            case "(", "[", "{": stack.append(character)
            case ")", "]", "}":
                let expected: Character = character == ")" ? "(" : character == "]" ? "[" : "{"
                if stack.popLast() != expected { return "filter expression \"\(expression.truncatedForDisplay)\" has an unmatched \"\(character)\"" }
            default: break
            }
        }
        if quote != nil { return "filter expression \"\(expression.truncatedForDisplay)\" has an unterminated string" }
        if let open = stack.last { return "filter expression \"\(expression.truncatedForDisplay)\" has an unclosed \"\(open)\"" }
        return nil
    }
}
