// String matches and header edits, as HTTP routes and CORS policies use them.

extension ValidationContext {
    mutating func stringMatch(_ path: FieldPath, _ match: StringMatch?, allowEmptyPrefix: Bool = false) {
        guard let match else { return }
        exclusive(path, [("exact", match.exact != nil), ("prefix", match.prefix != nil), ("regex", match.regex != nil)])
        if let prefix = match.prefix, prefix.isEmpty, !allowEmptyPrefix {
            error(path / "prefix", "prefix match must not be empty")
        }
        if let regex = match.regex { check(path / "regex", RegexRule.problem(regex)) }
    }

    mutating func headerOperations(_ path: FieldPath, _ headers: Headers?) {
        guard let headers else { return }
        for (side, operations) in [("request", headers.request), ("response", headers.response)] {
            guard let operations else { continue }
            let base = path / side
            for (operation, values) in [("set", operations.set), ("add", operations.add)] {
                for (name, value) in (values ?? [:]).sorted(by: { $0.key < $1.key }) {
                    headerNameForEdit(base / operation / name, name, side: side)
                    check(base / operation / name, HeaderRule.valueProblem(value))
                }
            }
            for (index, name) in (operations.remove ?? []).enumerated() {
                headerNameForEdit(base / "remove" / index, name, side: side, removing: true)
            }
        }
    }

    private mutating func headerNameForEdit(_ path: FieldPath, _ name: String, side: String, removing: Bool = false) {
        if name.isEmpty { return error(path, "header name cannot be empty") }
        let lower = name.lowercased()
        if side == "request" && !removing && (lower == ":authority" || lower == "host") { return }
        if lower == "host" { return error(path, "the Host header cannot be \(removing ? "removed" : "set") here; use rewrite.authority") }
        if name.hasPrefix(":") { return error(path, "pseudo-header \"\(name)\" cannot be edited") }
        check(path, HeaderRule.nameProblem(name))
    }
}
