// RequestAuthentication: which JWTs a workload accepts and where it finds them.

/// `security.istio.io` RequestAuthentication spec.
public struct RequestAuthentication: Codable, Hashable, Sendable {
    public var selector: LabelSelector?
    public var targetRef: PolicyTargetReference?
    public var targetRefs: [PolicyTargetReference]?
    public var jwtRules: [JWTRule]?
}

/// A JWT issuer whose tokens the workload accepts, and where to find them.
public struct JWTRule: Codable, Hashable, Sendable {
    /// A header carrying the token, with its prefix (`Bearer `).
    public struct JWTHeader: Codable, Hashable, Sendable {
        public var name: String?
        public var prefix: String?
    }

    /// Copy a claim of a valid token to a request header.
    public struct ClaimToHeader: Codable, Hashable, Sendable {
        public var header: String?
        public var claim: String?
    }

    public var issuer: String?
    public var audiences: [String]?
    public var jwksUri: String?
    public var jwks: String?
    public var fromHeaders: [JWTHeader]?
    public var fromParams: [String]?
    public var fromCookies: [String]?
    public var outputPayloadToHeader: String?
    public var forwardOriginalToken: Bool?
    public var outputClaimToHeaders: [ClaimToHeader]?
    public var timeout: ProtoDuration?
    /// Claims whose space-separated string values are matched as lists (like `scope`).
    public var spaceDelimitedClaims: [String]?
}
