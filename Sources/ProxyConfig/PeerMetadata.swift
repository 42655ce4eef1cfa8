// Who a proxy's workload is, from its node metadata, and Istio's HTTP metadata exchange headers that tell a peer.

import EnvoyAPI
import SwiftProtobuf
import Telemetry

extension WorkloadMetadata {
    /// A workload from Istio's node metadata fields (`WORKLOAD_NAME`, `NAMESPACE`, `LABELS`,
    /// `CLUSTER_ID`), as a proxy's bootstrap node or a peer's exchange header carries them.
    public init(istioFields fields: Google_Protobuf_Struct) {
        func text(_ key: String) -> String? {
            if case .stringValue(let value)? = fields.fields[key]?.kind, !value.isEmpty { return value }
            return nil
        }
        var labels: [String: String] = [:]
        if case .structValue(let values)? = fields.fields["LABELS"]?.kind {
            for (key, value) in values.fields {
                if case .stringValue(let text) = value.kind { labels[key] = text }
            }
        }
        self.init(workload: text("WORKLOAD_NAME") ?? text("NAME"), namespace: text("NAMESPACE"), labels: labels,
                  cluster: text("CLUSTER_ID"))
    }

    /// The fields a peer reads back with `init(istioFields:)`.
    public var istioFields: Google_Protobuf_Struct {
        var fields = Google_Protobuf_Struct()
        if let workload { fields.fields["WORKLOAD_NAME"] = Google_Protobuf_Value(stringValue: workload) }
        if let namespace { fields.fields["NAMESPACE"] = Google_Protobuf_Value(stringValue: namespace) }
        if let cluster { fields.fields["CLUSTER_ID"] = Google_Protobuf_Value(stringValue: cluster) }
        if !labels.isEmpty {
            var values = Google_Protobuf_Struct()
            for (key, value) in labels { values.fields[key] = Google_Protobuf_Value(stringValue: value) }
            fields.fields["LABELS"] = Google_Protobuf_Value(structValue: values)
        }
        return fields
    }
}

extension ProxyBootstrap {
    /// The workload this proxy runs beside: its node metadata, with the name and namespace
    /// from the node ID (`sidecar~IP~NAME.NAMESPACE~DOMAIN`) where the metadata has none, and
    /// Istio's default cluster name.
    public var workload: WorkloadMetadata {
        var workload = WorkloadMetadata(istioFields: node.metadata)
        let nameAndNamespace = node.id.split(separator: "~").dropFirst(2).first?.split(separator: ".", maxSplits: 1)
        if workload.workload == nil, let name = nameAndNamespace?.first { workload.workload = String(name) }
        if workload.namespace == nil, let namespace = nameAndNamespace?.dropFirst().first { workload.namespace = String(namespace) }
        if workload.cluster == nil { workload.cluster = "Kubernetes" }
        return workload
    }
}

/// Istio's metadata exchange over HTTP: a proxy sends its workload's metadata to a peer proxy in
/// `x-envoy-peer-metadata` (a protobuf `Struct`, base64) with its node ID in
/// `x-envoy-peer-metadata-id`, on requests to mesh services and on responses to mesh clients;
/// the receiving proxy takes them off before the application sees them.
public enum PeerMetadataHeaders {
    public static let metadata = "x-envoy-peer-metadata"
    public static let id = "x-envoy-peer-metadata-id"

    /// The header value announcing `workload`.
    public static func encode(_ workload: WorkloadMetadata) -> String {
        var options = BinaryEncodingOptions()
        options.useDeterministicOrdering = true
        let bytes: [UInt8] = (try? workload.istioFields.serializedBytes(options: options)) ?? []
        return Base64.encode(bytes)
    }

    /// The workload a peer announced; nil when the value is not base64 of a `Struct`.
    public static func decode(_ value: String) -> WorkloadMetadata? {
        guard let bytes = Base64.decode(value), let fields = try? Google_Protobuf_Struct(serializedBytes: bytes) else { return nil }
        return WorkloadMetadata(istioFields: fields)
    }
}

/// Standard base64 (RFC 4648, with padding), without Foundation.
enum Base64 {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    static func encode(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count + 2) / 3 * 4)
        var index = 0
        while index < bytes.count {
            let chunk = bytes[index..<min(index + 3, bytes.count)]
            let value = chunk.enumerated().reduce(UInt32(0)) { $0 | UInt32($1.element) << (16 - 8 * UInt32($1.offset)) }
            for position in 0..<4 {
                out.append(position <= chunk.count ? alphabet[Int((value >> (18 - 6 * UInt32(position))) & 63)] : UInt8(ascii: "="))
            }
            index += 3
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func decode(_ text: String) -> [UInt8]? {
        var out: [UInt8] = []
        var value: UInt32 = 0
        var bits = 0
        var padding = 0
        for character in text.utf8 {
            let digit: UInt32
            switch character {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"): digit = UInt32(character - UInt8(ascii: "A"))
            case UInt8(ascii: "a")...UInt8(ascii: "z"): digit = UInt32(character - UInt8(ascii: "a")) + 26
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(character - UInt8(ascii: "0")) + 52
            case UInt8(ascii: "+"): digit = 62
            case UInt8(ascii: "/"): digit = 63
            case UInt8(ascii: "="): padding += 1; continue
            default: return nil
            }
            guard padding == 0 else { return nil }  // data after padding
            value = value << 6 | digit
            bits += 6
            if bits >= 8 {
                bits -= 8
                out.append(UInt8((value >> UInt32(bits)) & 0xFF))
            }
        }
        guard padding <= 2, (text.utf8.count % 4 == 0) else { return nil }
        return out
    }
}
