// A DNS cluster's endpoints once their names are resolved: one host per address, as Envoy's STRICT_DNS and LOGICAL_DNS make them.

import ProxyConfig

public enum DNSEndpoints {
    /// The names in `assignment` that are not already IP addresses.
    public static func names(in assignment: LoadAssignment) -> Set<String> {
        Set(assignment.localities.flatMap { $0.endpoints.map(\.address.host) }.filter { !isIPAddress($0) })
    }

    /// `assignment` with each named endpoint replaced by one endpoint per address of its name
    /// (same port, weight, health and TLS mode, same locality); names without addresses give
    /// none. LOGICAL_DNS keeps only the first address.
    public static func expand(_ assignment: LoadAssignment, addresses: [String: [String]], logical: Bool) -> LoadAssignment {
        var expanded = assignment
        expanded.localities = assignment.localities.map { group in
            var group = group
            group.endpoints = group.endpoints.flatMap { endpoint -> [EndpointConfig] in
                guard !isIPAddress(endpoint.address.host) else { return [endpoint] }
                var found = addresses[endpoint.address.host] ?? []
                if logical { found = Array(found.prefix(1)) }
                return found.map { address in
                    var one = endpoint
                    one.address = SocketAddressConfig(host: address, port: endpoint.address.port)
                    return one
                }
            }
            return group
        }
        return expanded
    }
}
