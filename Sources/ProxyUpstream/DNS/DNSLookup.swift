// Host names to addresses with the system resolver (getaddrinfo: /etc/hosts, then DNS).

#if canImport(Glibc)
import Glibc
#endif
import ProxyConfig

public enum DNSLookup {
    public struct Failure: Error, CustomStringConvertible, Equatable {
        public let description: String
    }

    /// The addresses of `host` in the order the resolver gives them, filtered and ordered by
    /// `family` as Envoy's `dns_lookup_family` says. Blocking: call it off the event loops.
    public static func addresses(of host: String, family: ClusterConfig.DNSResolution.Family) throws(Failure) -> [String] {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        switch family {
        case .v4Only: hints.ai_family = AF_INET
        case .v6Only: hints.ai_family = AF_INET6
        case .auto, .v4Preferred, .all: hints.ai_family = AF_UNSPEC
        }
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, nil, &hints, &list)
        guard status == 0, let first = list else {
            throw Failure(description: "\(host): \(String(cString: gai_strerror(status)))")
        }
        defer { freeaddrinfo(list) }
        var v4: [String] = []
        var v6: [String] = []
        var entry: UnsafeMutablePointer<addrinfo>? = first
        while let current = entry {
            if let address = text(current.pointee) {
                if current.pointee.ai_family == AF_INET6 {
                    if !v6.contains(address) { v6.append(address) }
                } else if !v4.contains(address) {
                    v4.append(address)
                }
            }
            entry = current.pointee.ai_next
        }
        let chosen: [String]
        switch family {
        case .v4Only: chosen = v4
        case .v6Only: chosen = v6
        case .auto: chosen = v6.isEmpty ? v4 : v6
        case .v4Preferred: chosen = v4.isEmpty ? v6 : v4
        case .all: chosen = v4 + v6
        }
        guard !chosen.isEmpty else { throw Failure(description: "\(host): no address of the family asked for (\(family))") }
        return chosen
    }

    private static func text(_ info: addrinfo) -> String? {
        guard let address = info.ai_addr else { return nil }
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        let done: UnsafePointer<CChar>?
        switch info.ai_family {
        case AF_INET:
            done = address.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { pointer in
                var raw = pointer.pointee.sin_addr
                return inet_ntop(AF_INET, &raw, &buffer, socklen_t(buffer.count))
            }
        case AF_INET6:
            done = address.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { pointer in
                var raw = pointer.pointee.sin6_addr
                return inet_ntop(AF_INET6, &raw, &buffer, socklen_t(buffer.count))
            }
        default:
            return nil
        }
        guard done != nil else { return nil }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
