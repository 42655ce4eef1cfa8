// AuthorizationPolicy: who may call what on a workload (ALLOW, DENY, AUDIT, CUSTOM).

/// `security.istio.io` AuthorizationPolicy spec.
public struct AuthorizationPolicy: Codable, Hashable, Sendable {
    /// What happens to requests the rules match.
    public enum Action: String, ConfigEnum {
        case ALLOW, DENY, AUDIT, CUSTOM
    }

    /// The external authorizer (a MeshConfig extension provider) for action CUSTOM.
    public struct ExtensionProvider: Codable, Hashable, Sendable {
        public var name: String?
    }

    /// Who (`from`) may do what (`to`) under which conditions (`when`).
    public struct Rule: Codable, Hashable, Sendable {
        /// The sources a rule applies to.
        public struct From: Codable, Hashable, Sendable {
            public var source: Source?
        }

        /// The operations a rule applies to.
        public struct To: Codable, Hashable, Sendable {
            public var operation: Operation?
        }

        public var from: [From]?
        public var to: [To]?
        public var when: [Condition]?
    }

    /// Peer identities, namespaces, request principals and IP ranges.
    public struct Source: Codable, Hashable, Sendable {
        public var principals: [String]?
        public var notPrincipals: [String]?
        public var requestPrincipals: [String]?
        public var notRequestPrincipals: [String]?
        public var namespaces: [String]?
        public var notNamespaces: [String]?
        public var serviceAccounts: [String]?
        public var notServiceAccounts: [String]?
        public var ipBlocks: [String]?
        public var notIpBlocks: [String]?
        public var remoteIpBlocks: [String]?
        public var notRemoteIpBlocks: [String]?
    }

    /// Hosts, ports, methods and paths of a request.
    public struct Operation: Codable, Hashable, Sendable {
        public var hosts: [String]?
        public var notHosts: [String]?
        public var ports: [String]?
        public var notPorts: [String]?
        public var methods: [String]?
        public var notMethods: [String]?
        public var paths: [String]?
        public var notPaths: [String]?
    }

    /// A condition on a request attribute (`key`) and its values.
    public struct Condition: Codable, Hashable, Sendable {
        public var key: String?
        public var values: [String]?
        public var notValues: [String]?
    }

    public var selector: LabelSelector?
    public var targetRef: PolicyTargetReference?
    public var targetRefs: [PolicyTargetReference]?
    public var rules: [Rule]?
    public var action: Action?
    public var provider: ExtensionProvider?
}
