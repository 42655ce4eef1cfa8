// Who a proxy's workload is, from its node metadata, and Istio's metadata exchange that tells a peer (HTTP headers, TCP prefix).

import EnvoyAPI
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
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

/// Istio's metadata exchange over TCP (istio-proxy's `istio.metadata_exchange`): once TLS has
/// negotiated the exchange's ALPN, each end first writes an 8-byte header (the magic
/// 0x3D230467 and the length of what follows, both big-endian), then a protobuf `Any` holding a
/// `Struct` with the node's metadata under `x-envoy-peer-metadata` and its node ID under
/// `x-envoy-peer-metadata-id`. The application's bytes follow.
public enum PeerMetadataExchange {
    public static let magic: UInt32 = 0x3D23_0467
    static let headerSize = 8
    /// A peer announcing more than this is not one: istio-proxy's metadata is a few kilobytes.
    public static let maximumSize = 256 * 1024
    static let structTypeURL = "type.googleapis.com/google.protobuf.Struct"

    /// What the first bytes of a connection say.
    public enum Reading: Equatable {
        /// Not all of the header and metadata have arrived.
        case needMore
        /// No exchange: the bytes do not start with the magic, and belong to the application.
        case absent
        /// The peer's workload (nil when its metadata does not parse) and node ID, and how many
        /// bytes the exchange took; the application's bytes start after them.
        case peer(WorkloadMetadata?, id: String?, consumed: Int)
        /// The header announces more than `maximumSize`: the connection cannot be read on.
        case tooLarge(Int)
    }

    /// The exchange `workload` sends: header and payload.
    public static func encode(_ workload: WorkloadMetadata, nodeID: String) -> [UInt8] {
        var data = Google_Protobuf_Struct()
        data.fields[PeerMetadataHeaders.metadata] = Google_Protobuf_Value(structValue: workload.istioFields)
        data.fields[PeerMetadataHeaders.id] = Google_Protobuf_Value(stringValue: nodeID)
        var options = BinaryEncodingOptions()
        options.useDeterministicOrdering = true
        var any = Google_Protobuf_Any()
        any.typeURL = structTypeURL
        any.value = Data((try? data.serializedBytes(options: options) as [UInt8]) ?? [])
        let payload: [UInt8] = (try? any.serializedBytes(options: options)) ?? []
        var bytes: [UInt8] = []
        bytes.reserveCapacity(headerSize + payload.count)
        for value in [magic, UInt32(payload.count)] {
            bytes += [UInt8(value >> 24), UInt8(value >> 16 & 0xFF), UInt8(value >> 8 & 0xFF), UInt8(value & 0xFF)]
        }
        return bytes + payload
    }

    /// Reads the exchange from the start of `bytes`, all that has arrived so far.
    public static func read(_ bytes: some RandomAccessCollection<UInt8>) -> Reading {
        func word(_ offset: Int) -> UInt32 {
            let start = bytes.index(bytes.startIndex, offsetBy: offset)
            return bytes[start..<bytes.index(start, offsetBy: 4)].reduce(0) { $0 << 8 | UInt32($1) }
        }
        // The magic is told apart as soon as a byte differs, so a peer that sent a few bytes
        // of its own protocol is not kept waiting for eight.
        let prefix = [UInt8(magic >> 24), UInt8(magic >> 16 & 0xFF), UInt8(magic >> 8 & 0xFF), UInt8(magic & 0xFF)]
        guard zip(bytes, prefix).allSatisfy({ $0 == $1 }) else { return .absent }
        guard bytes.count >= headerSize else { return .needMore }
        let size = Int(word(4))
        guard size <= maximumSize else { return .tooLarge(size) }
        guard bytes.count >= headerSize + size else { return .needMore }
        let payloadStart = bytes.index(bytes.startIndex, offsetBy: headerSize)
        let payload = Array(bytes[payloadStart..<bytes.index(payloadStart, offsetBy: size)])
        guard let any = try? Google_Protobuf_Any(serializedBytes: payload), any.typeURL == structTypeURL,
              let data = try? Google_Protobuf_Struct(serializedBytes: Array(any.value)) else {
            return .peer(nil, id: nil, consumed: headerSize + size)
        }
        var workload: WorkloadMetadata?
        if case .structValue(let fields)? = data.fields[PeerMetadataHeaders.metadata]?.kind { workload = WorkloadMetadata(istioFields: fields) }
        var id: String?
        if case .stringValue(let text)? = data.fields[PeerMetadataHeaders.id]?.kind { id = text }
        return .peer(workload, id: id, consumed: headerSize + size)
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
