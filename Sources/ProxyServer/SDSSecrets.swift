// Secrets from the workload agent's SDS stream into the proxy's secret cache: all checked, then all kept.

import EnvoyAPI
import ProxyConfig
import ProxyCore
import XDSClient

/// What meshproxy does with one SDS response when its identity comes from an agent beside it
/// (Istio's pilot-agent, `meshproxy agent`) instead of the embedded one.
enum SDSSecrets {
    /// Checks every secret of a response (decoded by `SecretConfig`, PEM parsed as a TLS context
    /// would parse it) and only then stores them, trust bundles first so a context built between
    /// two writes trusts a new root before it presents a certificate from it. nil: accepted;
    /// otherwise the NACK reason, and the cache is untouched.
    static func apply(_ secrets: [String: Envoy_Extensions_TransportSockets_Tls_V3_Secret], to cache: SecretCache) -> String? {
        var checked: [SecretConfig] = []
        for (name, proto) in secrets.sorted(by: { $0.key < $1.key }) {
            let path = "secret \"\(name)\""
            do {
                let secret = try SecretConfig(proto: proto, at: path)
                do {
                    try TLSContexts.check(secret.value)
                } catch {
                    throw ProxyConfigError(path, "\(error)")
                }
                checked.append(secret)
            } catch {
                return "\(error)"
            }
        }
        for secret in checked where !secret.value.isCertificate { cache.set(secret.name, secret.value) }
        for secret in checked where secret.value.isCertificate { cache.set(secret.name, secret.value) }
        return nil
    }
}

extension SecretConfig.Value {
    var isCertificate: Bool {
        if case .certificate = self { return true }
        return false
    }
}
