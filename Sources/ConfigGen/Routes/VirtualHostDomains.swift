// The domains of a service's virtual host: the names a caller may use for it, with and without the port.

import MeshModel

/// Istio's `generateVirtualHostDomains`: the full name, the shorter names Kubernetes-style DNS
/// resolves from the caller's namespace (`reviews` only from the same namespace,
/// `reviews.default`, `reviews.default.svc`), the service's addresses, each also with `:port`.
enum VirtualHostDomains {
    static func domains(hostname: String, port: UInt32, addresses: [String] = [], proxyNamespace: String) -> [String] {
        var names = [hostname]
        let suffix = ".svc.cluster.local"
        if hostname.hasSuffix(suffix), !hostname.hasPrefix("*") {
            let parts = hostname.dropLast(suffix.count).split(separator: ".", omittingEmptySubsequences: false)
            if parts.count == 2 {
                let (name, namespace) = (parts[0], parts[1])
                if namespace == proxyNamespace { names.append(String(name)) }
                names.append("\(name).\(namespace).svc")
                names.append("\(name).\(namespace)")
            }
        }
        // A service address is a domain only as a literal IP; CIDR ranges are not.
        names += addresses.filter { !$0.contains("/") }
        return names.flatMap { [$0, "\($0):\(port)"] }
    }
}
