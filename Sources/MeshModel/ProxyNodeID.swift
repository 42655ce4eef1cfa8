// Proxy node IDs in Istio's format: `sidecar~<ip>~<name>.<namespace>~<namespace>.svc.cluster.local`.

/// Who a connecting proxy is, from its xDS node ID.
public struct ProxyNodeID: Hashable, Sendable, CustomStringConvertible {
    /// A workload's sidecar, or a gateway (`router`).
    public enum ProxyType: String, Sendable {
        case sidecar
        case router
    }

    public var type: ProxyType
    /// The workload's instance address: its WorkloadEntry address, where its sidecar listens.
    public var ip: String
    /// The proxy's own name (a pod or workload name).
    public var name: String
    public var namespace: String
    /// The DNS domain, `<namespace>.svc.cluster.local` by Istio's convention.
    public var domain: String

    public init(type: ProxyType, ip: String, name: String, namespace: String, domain: String? = nil) {
        self.type = type
        self.ip = ip
        self.name = name
        self.namespace = namespace
        self.domain = domain ?? "\(namespace).svc.cluster.local"
    }

    /// Parses `type~ip~name.namespace~domain`; the error says which part is wrong.
    public init(parsing text: String) throws(ProxyNodeIDError) {
        let parts = text.split(separator: "~", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 4 else {
            throw ProxyNodeIDError(nodeID: text, reason: "expected 4 parts separated by '~' (type~ip~name.namespace~domain), found \(parts.count)")
        }
        guard let type = ProxyType(rawValue: parts[0]) else {
            throw ProxyNodeIDError(nodeID: text, reason: "proxy type \"\(parts[0])\" must be sidecar or router")
        }
        guard !parts[1].isEmpty else { throw ProxyNodeIDError(nodeID: text, reason: "the IP address is empty") }
        guard let dot = parts[2].lastIndex(of: "."), dot != parts[2].startIndex, parts[2].index(after: dot) != parts[2].endIndex else {
            throw ProxyNodeIDError(nodeID: text, reason: "\"\(parts[2])\" must be name.namespace")
        }
        guard !parts[3].isEmpty else { throw ProxyNodeIDError(nodeID: text, reason: "the domain is empty") }
        self.init(type: type, ip: parts[1], name: String(parts[2][..<dot]), namespace: String(parts[2][parts[2].index(after: dot)...]),
                  domain: parts[3])
    }

    public var description: String { "\(type.rawValue)~\(ip)~\(name).\(namespace)~\(domain)" }
}

/// A node ID that is not in Istio's format.
public struct ProxyNodeIDError: Error, CustomStringConvertible {
    public var nodeID: String
    public var reason: String
    public var description: String { "node ID \"\(nodeID)\": \(reason)" }
}
