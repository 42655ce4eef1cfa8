// IP address and CIDR parsing for validation (glibc's inet_pton: no leading zeros in IPv4).

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

enum IPAddress {
    enum Family { case v4, v6 }

    /// The family of `text` if it is an IPv4 or IPv6 address (an IPv6 zone `%eth0` is allowed).
    static func parse(_ text: String) -> Family? {
        // inet_pton reads a C string: a NUL would end the text early and hide what follows.
        guard !text.utf8.contains(0) else { return nil }
        var buffer = [UInt8](repeating: 0, count: 16)
        if text.contains(":") {
            let address = text.split(separator: "%", maxSplits: 1).first.map(String.init) ?? text
            return inet_pton(AF_INET6, address, &buffer) == 1 ? .v6 : nil
        }
        return inet_pton(AF_INET, text, &buffer) == 1 ? .v4 : nil
    }

    /// A CIDR block (`10.0.0.0/8`, `fd00::/8`); host bits may be set, as Istio allows.
    static func parseCIDR(_ text: String) -> Family? {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, !String(parts[0]).contains("%"), let family = parse(String(parts[0])),
              let bits = Int(parts[1]), parts[1].allSatisfy(\.isNumber) else { return nil }
        let maximum = family == .v4 ? 32 : 128
        return (0...maximum).contains(bits) ? family : nil
    }

    /// An address or a CIDR block.
    static func validateAddressOrCIDR(_ text: String) -> String? {
        if text.contains("/") {
            return parseCIDR(text) == nil ? "\"\(text.truncatedForDisplay)\" is not a valid CIDR block" : nil
        }
        return parse(text) == nil ? "\"\(text.truncatedForDisplay)\" is not a valid IP address" : nil
    }
}
