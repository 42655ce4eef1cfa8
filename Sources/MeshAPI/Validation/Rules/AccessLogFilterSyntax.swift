// A syntax check of access-log filter expressions (a CEL subset) before a proxy evaluates them.

/// Checks the shape of a filter such as `response.code >= 400 && request.host == "x"`: tokens,
/// balanced brackets and strings, and every operator between two operands. What the names
/// mean is judged by the proxy that evaluates the expression.
enum AccessLogFilterSyntax {
    private enum Token: Equatable {
        case operand
        case binary(String)
        case unary(String)
        case open(Character)
        case close(Character)
        case comma
    }

    static func problem(_ expression: String) -> String? {
        let shown = expression.truncatedForDisplay
        if expression.allSatisfy(\.isWhitespace) { return "filter expression must not be empty" }
        let tokens: [Token]
        switch tokenize(expression) {
        case .success(let found): tokens = found
        case .failure(let failure): return "filter expression \"\(shown)\": \(failure.reason)"
        }
        var expectingOperand = true
        var brackets: [Character] = []
        var previous: Token?
        for token in tokens {
            defer { previous = token }
            switch token {
            case .operand:
                if !expectingOperand { return "filter expression \"\(shown)\": two operands with no operator between them" }
                expectingOperand = false
            case .unary(let op):
                if !expectingOperand { return "filter expression \"\(shown)\": \"\(op)\" needs an operand after it, not before" }
            case .binary(let op):
                if expectingOperand {
                    if op == "-" { continue }  // a negative number
                    return "filter expression \"\(shown)\": \"\(op)\" has no left operand"
                }
                expectingOperand = true
            case .open:
                // After an operand, `(` calls and `[` indexes; otherwise they group and list.
                brackets.append(token == .open("(") ? "(" : token == .open("[") ? "[" : "{")
                expectingOperand = true
            case .close(let bracket):
                let opening: Character = bracket == ")" ? "(" : bracket == "]" ? "[" : "{"
                guard brackets.popLast() == opening else { return "filter expression \"\(shown)\" has an unmatched \"\(bracket)\"" }
                // `f()` and `[]` may be empty; otherwise the last element needs a value.
                if expectingOperand && previous != .open(opening) {
                    return "filter expression \"\(shown)\": nothing follows the operator before \"\(bracket)\""
                }
                expectingOperand = false
            case .comma:
                if expectingOperand || brackets.isEmpty { return "filter expression \"\(shown)\": misplaced \",\"" }
                expectingOperand = true
            }
        }
        if let open = brackets.last { return "filter expression \"\(shown)\" has an unclosed \"\(open)\"" }
        if expectingOperand { return "filter expression \"\(shown)\" ends with an operator" }
        return nil
    }

    private struct TokenizeFailure: Error {
        var reason: String
    }

    private static func tokenize(_ text: String) -> Result<[Token], TokenizeFailure> {
        let characters = Array(text)
        var tokens: [Token] = []
        var index = 0
        let twoCharacterOperators: Set<String> = ["==", "!=", ">=", "<=", "&&", "||"]
        while index < characters.count {
            let character = characters[index]
            if character.isWhitespace {
                index += 1
                continue
            }
            if character == "\"" || character == "'" {
                var end = index + 1
                while end < characters.count && characters[end] != character {
                    end += characters[end] == "\\" ? 2 : 1
                }
                guard end < characters.count else { return .failure(TokenizeFailure(reason: "a string is not closed")) }
                tokens.append(.operand)
                index = end + 1
                continue
            }
            if character.isLetter || character == "_" || character.isNumber {
                var end = index
                while end < characters.count && (characters[end].isLetter || characters[end].isNumber || characters[end] == "_") {
                    end += 1
                }
                let word = String(characters[index..<end])
                tokens.append(word == "in" ? .binary(word) : .operand)
                index = end
                continue
            }
            if index + 1 < characters.count, twoCharacterOperators.contains(String(characters[index...index + 1])) {
                tokens.append(.binary(String(characters[index...index + 1])))
                index += 2
                continue
            }
            switch character {
            case ".":
                // Member access: `request.headers`; a decimal point belongs to the number.
                guard tokens.last == .operand || tokens.last == .close(")") || tokens.last == .close("]") else {
                    return .failure(TokenizeFailure(reason: "\".\" must follow a name"))
                }
                index += 1
                guard index < characters.count, characters[index].isLetter || characters[index] == "_" || characters[index].isNumber else {
                    return .failure(TokenizeFailure(reason: "\".\" must be followed by a name"))
                }
                var end = index
                while end < characters.count && (characters[end].isLetter || characters[end].isNumber || characters[end] == "_") { end += 1 }
                index = end
                if tokens.last != .operand { tokens.append(.operand) }
                continue
            case "<", ">", "+", "-", "*", "/", "%":
                tokens.append(.binary(String(character)))
            case "!":
                tokens.append(.unary("!"))
            case "?", ":":
                tokens.append(.binary(String(character)))
            case "(", "[", "{":
                tokens.append(.open(character))
            case ")", "]", "}":
                tokens.append(.close(character))
            case ",":
                tokens.append(.comma)
            default:
                return .failure(TokenizeFailure(reason: "unexpected character \"\(character)\""))
            }
            index += 1
        }
        return .success(tokens)
    }
}
