// Where a connection redirected by iptables was going, read from netfilter's NAT record.

#if canImport(Glibc)
import Glibc
#endif
import NIOCore

/// `SO_ORIGINAL_DST`: iptables' REDIRECT rewrites a connection's destination to the proxy's
/// capture port (15001 outbound, 15006 inbound); conntrack keeps the address the client asked
/// for, and this reads it back. Envoy's `original_dst` listener filter does the same.
public enum OriginalDestination {
    /// From linux/netfilter_ipv4.h and linux/netfilter_ipv6/ip6_tables.h (not in Glibc's module).
    static let soOriginalDst: Int32 = 80
    static let ip6tSoOriginalDst: Int32 = 80

    /// The original destination of accepted socket `fd`, or nil when the connection was not
    /// redirected (no NAT record) or the socket is not TCP over IP.
    public static func of(_ fd: Int32) -> SocketAddress? {
        var local = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let named = withUnsafeMutablePointer(to: &local) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard named == 0 else { return nil }
        switch Int32(local.ss_family) {
        // NIO makes the address (and its text) from the kernel's structure.
        case AF_INET:
            var address = sockaddr_in()
            var size = socklen_t(MemoryLayout<sockaddr_in>.size)
            return getsockopt(fd, Int32(IPPROTO_IP), soOriginalDst, &address, &size) == 0 ? SocketAddress(address) : nil
        case AF_INET6:
            var address = sockaddr_in6()
            var size = socklen_t(MemoryLayout<sockaddr_in6>.size)
            return getsockopt(fd, Int32(IPPROTO_IPV6), ip6tSoOriginalDst, &address, &size) == 0 ? SocketAddress(address) : nil
        default:
            return nil
        }
    }
}
