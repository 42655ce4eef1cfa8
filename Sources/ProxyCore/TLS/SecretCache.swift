// The certificates and trust bundles TLS contexts refer to by name (Istio's `default` and `ROOTCA`).

import ProxyConfig
import Synchronization

/// Named secrets, as SDS delivers them: the embedded identity agent (or an SDS stream) writes,
/// workers read when they build a TLS context. Every change bumps `generation`, which is all a
/// worker checks per connection: contexts are rebuilt only after a rotation.
public final class SecretCache: Sendable {
    /// A certificate chain with its key, or a trust bundle (PEM), as SDS delivers them.
    public typealias Secret = SecretConfig.Value

    private let secrets = Mutex<[String: Secret]>([:])
    private let version = Atomic<Int>(0)

    public init() {}

    /// Changes whenever a secret does.
    public var generation: Int { version.load(ordering: .acquiring) }

    public func set(_ name: String, _ secret: Secret) {
        secrets.withLock { $0[name] = secret }
        version.wrappingAdd(1, ordering: .releasing)
    }

    public subscript(name: String) -> Secret? {
        secrets.withLock { $0[name] }
    }

    /// The names of `wanted` that have not arrived yet.
    public func missing(_ wanted: some Sequence<String>) -> [String] {
        secrets.withLock { present in wanted.filter { present[$0] == nil } }
    }
}
