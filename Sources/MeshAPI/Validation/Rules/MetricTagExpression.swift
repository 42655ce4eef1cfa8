// The metric tag expressions meshproxy evaluates, so validation can warn before a proxy refuses one.

import Foundation

/// Istio writes a tag override's value as CEL. meshproxy evaluates a subset (Telemetry's
/// `IstioTagValue`, which the proxy config parser uses) and refuses a listener that carries any
/// other expression. This is the same subset, read the same way; `MetricTagExpressionTests`
/// holds the two to one list of expressions.
public enum MetricTagExpression {
    public static let supportedForms = "'literal', request.host, request.method, request.url_path, request.headers['name'], response.code"

    public static func isSupported(_ expression: String) -> Bool {
        let text = expression.trimmingCharacters(in: .whitespacesAndNewlines)
        if isQuoted(text) { return true }
        if ["request.host", "request.method", "request.url_path", "response.code"].contains(text) { return true }
        guard text.hasPrefix("request.headers["), text.hasSuffix("]") else { return false }
        let name = String(text.dropFirst("request.headers[".count).dropLast())
        return isQuoted(name) && name.count > 2
    }

    private static func isQuoted(_ text: String) -> Bool {
        guard text.count >= 2, let first = text.first, first == "'" || first == "\"", text.last == first else { return false }
        return !text.dropFirst().dropLast().contains(first)
    }
}
