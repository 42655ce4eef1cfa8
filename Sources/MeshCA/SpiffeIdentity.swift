// A workload's identity as a SPIFFE ID: spiffe://<trust domain>/ns/<namespace>/sa/<service account>.

public struct SpiffeIdentity: Hashable, Sendable, CustomStringConvertible {
    public var trustDomain: String
    public var namespace: String
    public var serviceAccount: String

    public init(trustDomain: String, namespace: String, serviceAccount: String) {
        self.trustDomain = trustDomain
        self.namespace = namespace
        self.serviceAccount = serviceAccount
    }

    public var uri: String { "spiffe://\(trustDomain)/ns/\(namespace)/sa/\(serviceAccount)" }
    public var description: String { uri }
}
