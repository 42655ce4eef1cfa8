// Kubernetes label keys and values, as labels, selectors and subsets use them.

enum LabelRule {
    /// An optional DNS-subdomain prefix and `/`, then a name of at most 63 characters.
    static func keyProblem(_ key: String, what: String = "label key") -> String? {
        var name = Substring(key)
        if let slash = key.firstIndex(of: "/") {
            let prefix = String(key[..<slash])
            name = key[key.index(after: slash)...]
            if prefix.utf8.count > 253 || prefix.isEmpty
                || !prefix.split(separator: ".", omittingEmptySubsequences: false).allSatisfy({ HostNames.isDNS1123Label(String($0)) }) {
                return "invalid \(what) \"\(key.truncatedForDisplay)\": the prefix must be a DNS subdomain"
            }
        }
        if name.utf8.count > 63 { return "invalid \(what) \"\(key.truncatedForDisplay)\": the name is longer than 63 characters" }
        if name.isEmpty || !isQualifiedName(String(name)) {
            return "invalid \(what) \"\(key.truncatedForDisplay)\": use letters, digits, '-', '_' and '.', starting and ending with a letter or digit"
        }
        return nil
    }

    static func valueProblem(_ value: String) -> String? {
        if value.isEmpty { return nil }
        if value.utf8.count > 63 { return "invalid label value \"\(value.truncatedForDisplay)\": longer than 63 characters" }
        return isQualifiedName(value) ? nil
            : "invalid label value \"\(value.truncatedForDisplay)\": use letters, digits, '-', '_' and '.', starting and ending with a letter or digit"
    }

    private static func isQualifiedName(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        guard let first = bytes.first, let last = bytes.last else { return false }
        func alphanumeric(_ b: UInt8) -> Bool { (b >= 48 && b <= 57) || (b >= 65 && b <= 90) || (b >= 97 && b <= 122) }
        return alphanumeric(first) && alphanumeric(last) && bytes.allSatisfy { alphanumeric($0) || $0 == 45 || $0 == 95 || $0 == 46 }
    }
}
