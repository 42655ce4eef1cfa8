// Which mutual TLS mode a workload's port accepts, by Istio's PeerAuthentication precedence.

import MeshAPI

/// What a server-side port accepts.
public enum MutualTLSMode: String, Sendable, Hashable {
    /// Mutual TLS only; plaintext is refused.
    case strict = "STRICT"
    /// Mutual TLS and plaintext on the same port (the first bytes tell them apart).
    case permissive = "PERMISSIVE"
    /// Plaintext only.
    case disable = "DISABLE"
}

extension MeshSnapshot {
    /// Istio's precedence: the workload's own policy (one in its namespace whose selector its labels
    /// hold; its `portLevelMtls` for this port first), then the namespace's policy without a
    /// selector, then the mesh's (root namespace, no selector); `UNSET` defers to the next level;
    /// without any, PERMISSIVE. Among several at one level the oldest wins in Istio; here the first
    /// by name.
    public func mutualTLSMode(namespace: String, labels: [String: String], port: UInt32?) -> MutualTLSMode {
        let policies = resources(of: .peerAuthentication).compactMap { resource -> (MeshResource, PeerAuthentication)? in
            guard case .peerAuthentication(let spec) = resource.spec else { return nil }
            return (resource, spec)
        }
        let workload = policies.first { resource, spec in
            guard resource.namespace == namespace, let selector = spec.selector?.matchLabels, !selector.isEmpty else { return false }
            return selector.allSatisfy { labels[$0.key] == $0.value }
        }
        let namespaceWide = policies.first { $0.0.namespace == namespace && ($0.1.selector?.matchLabels ?? [:]).isEmpty }
        let meshWide = policies.first { $0.0.namespace == meshConfig.effectiveRootNamespace && ($0.1.selector?.matchLabels ?? [:]).isEmpty }
        var levels: [PeerAuthentication.MutualTLS.Mode?] = []
        if let port, let portLevel = workload?.1.portLevelMtls?[String(port)] { levels.append(portLevel.mode) }
        levels.append(workload?.1.mtls?.mode)
        levels.append(namespaceWide?.1.mtls?.mode)
        levels.append(meshWide?.1.mtls?.mode)
        for mode in levels {
            switch mode {
            case .STRICT?: return .strict
            case .PERMISSIVE?: return .permissive
            case .DISABLE?: return .disable
            case .UNSET?, nil: continue
            }
        }
        return .permissive
    }
}
