// A syntax check of access-log filter expressions (a CEL subset) before a proxy evaluates them.

/// Checks the shape of a filter such as `response.code >= 400 && request.host == "x"`: tokens,
/// strings, brackets, calls, lists and maps, ternaries, and every operator between two operands.
/// What the names mean is judged by the proxy that evaluates the expression.
enum AccessLogFilterSyntax {
    private enum Token: Equatable {
        case operand
        /// `.name` after an operand (member access, method call).
        case member
        case binary(String)
        case bang
        case minus
        case question
        case colon
        case open(Character)
        case close(Character)
        case comma
    }

    /// An open bracket and what it holds.
    private struct Frame {
        var bracket: Character
        /// `(` after an operand calls; `[` after an operand indexes.
        var followsOperand: Bool
        var isEmpty = true
        var pendingQuestions = 0
        var lastWasComma = false
    }

    static func problem(_ expression: String) -> String? {
        let shown = expression.truncatedForDisplay
        if expression.allSatisfy(\.isWhitespace) { return "filter expression must not be empty" }
        switch tokenize(expression) {
        case .failure(let failure): return "filter expression \"\(shown)\": \(failure.reason)"
        case .success(let tokens): return check(tokens).map { "filter expression \"\(shown)\": \($0)" }
        }
    }

    private static func check(_ tokens: [Token]) -> String? {
        var expectingOperand = true
        var frames = [Frame(bracket: " ", followsOperand: false)]  // the expression itself
        func operandArrives() {
            frames[frames.count - 1].isEmpty = false
            frames[frames.count - 1].lastWasComma = false
        }
        for token in tokens {
            switch token {
            case .operand:
                if !expectingOperand { return "two operands with no operator between them" }
                expectingOperand = false
                operandArrives()
            case .member:
                if expectingOperand { return "\".\" must follow a value" }
            case .bang:
                if !expectingOperand { return "\"!\" needs an operand after it, not before" }
            case .minus:
                if !expectingOperand { expectingOperand = true }  // subtraction; otherwise negation
            case .binary(let op):
                if expectingOperand { return "\"\(op)\" has no left operand" }
                expectingOperand = true
            case .question:
                if expectingOperand { return "\"?\" has no condition before it" }
                frames[frames.count - 1].pendingQuestions += 1
                expectingOperand = true
            case .colon:
                if expectingOperand { return "\":\" has no operand before it" }
                if frames[frames.count - 1].pendingQuestions > 0 {
                    frames[frames.count - 1].pendingQuestions -= 1
                } else if frames[frames.count - 1].bracket != "{" {
                    return "\":\" without a \"?\" before it"
                }
                expectingOperand = true
            case .open(let bracket):
                let follows = !expectingOperand
                if follows && bracket == "{" { return "unexpected \"{\" after a value" }
                frames.append(Frame(bracket: bracket, followsOperand: follows))
                expectingOperand = true
            case .close(let bracket):
                let opening: Character = bracket == ")" ? "(" : bracket == "]" ? "[" : "{"
                guard frames.count > 1, let frame = frames.popLast(), frame.bracket == opening else {
                    return "unmatched \"\(bracket)\""
                }
                if frame.pendingQuestions > 0 { return "\"?\" without its \":\"" }
                if expectingOperand {
                    // `f()`, `[]` and `{}` may be empty, and a list or map may end with a comma.
                    let isLiteral = (bracket == "]" || bracket == "}") && !frame.followsOperand
                    let emptyAllowed = frame.isEmpty && (isLiteral || (bracket == ")" && frame.followsOperand))
                    let trailingComma = frame.lastWasComma && isLiteral
                    if !emptyAllowed && !trailingComma { return "nothing follows the operator before \"\(bracket)\"" }
                }
                expectingOperand = false
                operandArrives()
            case .comma:
                let frame = frames[frames.count - 1]
                let takesLists = (frame.bracket == "(" && frame.followsOperand) || (frame.bracket == "[" && !frame.followsOperand) || frame.bracket == "{"
                if !takesLists { return "misplaced \",\"" }
                if expectingOperand { return "\",\" has nothing before it" }
                expectingOperand = true
                frames[frames.count - 1].lastWasComma = true
            }
        }
        if let open = frames.dropFirst().last { return "unclosed \"\(open.bracket)\"" }
        if frames[0].pendingQuestions > 0 { return "\"?\" without its \":\"" }
        if expectingOperand { return "ends with an operator" }
        return nil
    }

    private struct TokenizeFailure: Error {
        var reason: String
    }

    private static func isIdentifierStart(_ c: Character) -> Bool { c.isASCII && (c.isLetter || c == "_") }
    private static func isIdentifierPart(_ c: Character) -> Bool { c.isASCII && (c.isLetter || c.isNumber || c == "_") }
    private static func isDigit(_ c: Character) -> Bool { c.isASCII && c.isNumber }

    private static func tokenize(_ text: String) -> Result<[Token], TokenizeFailure> {
        let characters = Array(text)
        var tokens: [Token] = []
        var index = 0
        func peek(_ offset: Int) -> Character? { index + offset < characters.count ? characters[index + offset] : nil }
        while index < characters.count {
            let character = characters[index]
            if character.isWhitespace {
                index += 1
                continue
            }
            // Strings, with CEL's raw (r'...') and bytes (b'...') prefixes and triple quotes.
            var prefix = 0
            while prefix < 2, let c = peek(prefix), "rRbB".contains(c) { prefix += 1 }
            if let quote = peek(prefix), quote == "\"" || quote == "'", prefix == 0 || !(tokens.last == .member) {
                let start = index + prefix
                let triple = start + 2 < characters.count && characters[start + 1] == quote && characters[start + 2] == quote
                let raw = characters[index..<start].contains { $0 == "r" || $0 == "R" }
                var end = start + (triple ? 3 : 1)
                var closed = false
                while end < characters.count {
                    if !raw && characters[end] == "\\" {
                        end += 2
                        continue
                    }
                    if triple {
                        if end + 2 < characters.count && characters[end] == quote && characters[end + 1] == quote && characters[end + 2] == quote {
                            end += 3
                            closed = true
                            break
                        }
                    } else if characters[end] == quote {
                        end += 1
                        closed = true
                        break
                    } else if characters[end] == "\n" {
                        break
                    }
                    end += 1
                }
                guard closed else { return .failure(TokenizeFailure(reason: "a string is not closed")) }
                tokens.append(.operand)
                index = end
                continue
            }
            if isDigit(character) || (character == "." && peek(1).map(isDigit) == true && tokens.last != .operand) {
                var end = index
                while end < characters.count && (isIdentifierPart(characters[end]) || characters[end] == ".") {
                    // `1.5e3`, `0x1F`, `3u`; a dot followed by a name ends the number (`1.x` is no number).
                    if characters[end] == "." && !(end + 1 < characters.count && isDigit(characters[end + 1])) { break }
                    end += 1
                }
                tokens.append(.operand)
                index = end
                continue
            }
            if isIdentifierStart(character) {
                var end = index
                while end < characters.count && isIdentifierPart(characters[end]) { end += 1 }
                let word = String(characters[index..<end])
                tokens.append(word == "in" ? .binary(word) : .operand)
                index = end
                continue
            }
            if character == "." {
                // Member access: `request.headers`, `x.size()`; spaces may surround the dot.
                var next = index + 1
                while next < characters.count && characters[next] == " " { next += 1 }
                guard next < characters.count, isIdentifierStart(characters[next]) else {
                    return .failure(TokenizeFailure(reason: "\".\" must be followed by a field or method name"))
                }
                while next < characters.count && isIdentifierPart(characters[next]) { next += 1 }
                tokens.append(.member)
                index = next
                continue
            }
            if let second = peek(1), ["==", "!=", ">=", "<=", "&&", "||"].contains(String([character, second])) {
                tokens.append(.binary(String([character, second])))
                index += 2
                continue
            }
            switch character {
            case "<", ">", "+", "*", "/", "%": tokens.append(.binary(String(character)))
            case "-": tokens.append(.minus)
            case "!": tokens.append(.bang)
            case "?": tokens.append(.question)
            case ":": tokens.append(.colon)
            case "(", "[", "{": tokens.append(.open(character))
            case ")", "]", "}": tokens.append(.close(character))
            case ",": tokens.append(.comma)
            default: return .failure(TokenizeFailure(reason: "unexpected character \"\(character)\""))
            }
            index += 1
        }
        return .success(tokens)
    }
}
