// Unix domain socket addresses (`unix:///path`, `unix://@abstract`).

enum UnixAddressRule {
    static func problem(_ address: String) -> String? {
        let path = address.hasPrefix("unix://") ? String(address.dropFirst("unix://".count)) : address
        if path.isEmpty { return "unix address must not be empty" }
        if path.hasPrefix("@") { return nil }
        if !path.hasPrefix("/") || path.hasSuffix("/") { return "\(path) is not an absolute path to a file" }
        return nil
    }
}
