// PeerAuthentication: whether a workload accepts mutual TLS, plaintext, or both.

/// `security.istio.io` PeerAuthentication spec.
public struct PeerAuthentication: Codable, Hashable, Sendable {
    /// The mutual TLS mode a workload accepts.
    public struct MutualTLS: Codable, Hashable, Sendable {
        /// The mode of this setting.
        public enum Mode: String, ConfigEnum {
            case UNSET, DISABLE, PERMISSIVE, STRICT
        }

        public var mode: Mode?
        public init(mode: Mode? = nil) { self.mode = mode }
    }

    public var selector: LabelSelector?
    public var mtls: MutualTLS?
    /// Keyed by port number, written as a string key in YAML.
    public var portLevelMtls: [String: MutualTLS]?

    public init(selector: LabelSelector? = nil, mtls: MutualTLS? = nil) {
        self.selector = selector
        self.mtls = mtls
    }
}
