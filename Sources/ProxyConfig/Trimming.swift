// Whitespace trimming for the lists config and flags spell with commas (FoundationEssentials,
// which the proxy uses instead of Foundation, has no `trimmingCharacters`).

extension StringProtocol {
    /// The text without leading and trailing whitespace and newlines.
    public func trimmingWhitespace() -> String {
        guard let first = firstIndex(where: { !$0.isWhitespace }), let last = lastIndex(where: { !$0.isWhitespace }) else { return "" }
        return String(self[first...last])
    }
}
