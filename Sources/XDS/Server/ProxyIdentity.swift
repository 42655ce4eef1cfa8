// Who is on a stream: the proxy's node ID and metadata, read from the first request's `node`.

import EnvoyAPI
import MeshModel
import SwiftProtobuf

/// What a proxy says about itself; completed into a `MeshProxy` against each snapshot's
/// registry, since its WorkloadEntry may change while it stays connected.
public struct ProxyIdentity: Sendable, Hashable {
    public var nodeID: ProxyNodeID
    public var metadata: ProxyMetadata

    public init(nodeID: ProxyNodeID, metadata: ProxyMetadata) {
        self.nodeID = nodeID
        self.metadata = metadata
    }

    /// Reads Istio's node ID and metadata (`NAMESPACE`, `LABELS`, `SERVICE_ACCOUNT`,
    /// `INTERCEPTION_MODE`), the node's locality and its proxy program (`user_agent_name`);
    /// the error names the field that is wrong.
    public init(node: Envoy_Config_Core_V3_Node) throws(ProxyIdentityError) {
        do {
            nodeID = try ProxyNodeID(parsing: node.id)
        } catch {
            throw ProxyIdentityError(reason: "node.id: \(error.description)")
        }
        let fields = node.metadata.fields
        var metadata = ProxyMetadata()
        metadata.namespace = try Self.string(fields["NAMESPACE"], "NAMESPACE")
        metadata.serviceAccount = try Self.string(fields["SERVICE_ACCOUNT"], "SERVICE_ACCOUNT")
        if let value = fields["LABELS"] {
            guard case .structValue(let labels)? = value.kind else {
                throw ProxyIdentityError(reason: "node.metadata.LABELS: must be a map of strings")
            }
            var result: [String: String] = [:]
            for (key, label) in labels.fields {
                guard case .stringValue(let text)? = label.kind else {
                    throw ProxyIdentityError(reason: "node.metadata.LABELS.\(key): must be a string")
                }
                result[key] = text
            }
            metadata.labels = result
        }
        if let identity = try Self.string(fields["WORKLOAD_IDENTITY"], "WORKLOAD_IDENTITY") {
            guard identity == "SDS" else {
                throw ProxyIdentityError(reason: "node.metadata.WORKLOAD_IDENTITY: \"\(identity)\" must be SDS (certificates from the workload's agent)")
            }
            metadata.hasIdentity = true
        }
        if let mode = try Self.string(fields["INTERCEPTION_MODE"], "INTERCEPTION_MODE") {
            guard let parsed = MeshProxy.InterceptionMode(rawValue: mode) else {
                throw ProxyIdentityError(reason: "node.metadata.INTERCEPTION_MODE: \"\(mode)\" must be NONE or REDIRECT")
            }
            metadata.interceptionMode = parsed
        }
        if node.hasLocality, !(node.locality.region.isEmpty && node.locality.zone.isEmpty && node.locality.subZone.isEmpty) {
            metadata.locality = "\(node.locality.region)/\(node.locality.zone)/\(node.locality.subZone)"
        }
        metadata.dataPlane = MeshProxy.DataPlane(userAgentName: node.userAgentName)
        self.metadata = metadata
    }

    private static func string(_ value: Google_Protobuf_Value?, _ field: String) throws(ProxyIdentityError) -> String? {
        guard let value else { return nil }
        guard case .stringValue(let text)? = value.kind else {
            throw ProxyIdentityError(reason: "node.metadata.\(field): must be a string")
        }
        return text.isEmpty ? nil : text
    }

    /// The proxy as configuration is generated for it in `snapshot`.
    public func proxy(in snapshot: MeshSnapshot) -> MeshProxy {
        MeshProxy(id: nodeID, metadata: metadata, registry: snapshot.registry)
    }
}

/// A node that does not identify a proxy; the stream is refused with this reason.
public struct ProxyIdentityError: Error, CustomStringConvertible, Sendable {
    public var reason: String
    public var description: String { reason }
}
