// One proxy's generated resources, serialized once and versioned by content.

import ConfigGen
import EnvoyAPI
import SwiftProtobuf
import XDSClient

/// A resource ready to send: packed once, with a version that changes only when its bytes do.
public struct VersionedResource: Sendable, Equatable {
    public var name: String
    /// A hash of the serialized resource, as hex; equal bytes give equal versions.
    public var version: String
    public var body: Google_Protobuf_Any

    public static func == (lhs: VersionedResource, rhs: VersionedResource) -> Bool {
        lhs.name == rhs.name && lhs.version == rhs.version
    }

    /// Packs a resource: deterministic bytes, so the same resource always hashes the same.
    init(_ type: ResourceType, name: String, _ message: any SwiftProtobuf.Message) throws {
        var options = BinaryEncodingOptions()
        options.useDeterministicOrdering = true
        let bytes: [UInt8] = try message.serializedBytes(options: options)
        self.name = name
        self.version = ContentHash.hex(bytes)
        self.body = Google_Protobuf_Any()
        self.body.typeURL = type.typeURL
        self.body.value = Data(bytes)
    }
}

/// A proxy's resources by type and name. Comparing two sets tells which types changed, which
/// is how a change reaches only the proxies (and types) it affects.
public struct ResourceSet: Sendable, Equatable {
    public private(set) var byType: [ResourceType: [String: VersionedResource]] = [:]

    public init() {}

    /// Packs and versions every resource of `resources`. Clusters and endpoints come from
    /// `cache` when another proxy of the same push already packed the same resource.
    init(_ resources: ProxyResources, cache: ResourcePackCache?) throws {
        try add(.cluster, resources.clusters.map { ($0.name, $0) }, cache: cache)
        try add(.endpoint, resources.endpoints.map { ($0.clusterName, $0) }, cache: cache)
        try add(.listener, resources.listeners.map { ($0.name, $0) }, cache: nil)
        try add(.route, resources.routes.map { ($0.name, $0) }, cache: nil)
    }

    /// Packs and versions every resource of `resources`.
    public init(_ resources: ProxyResources) throws {
        try self.init(resources, cache: nil)
    }

    private mutating func add(_ type: ResourceType, _ messages: [(String, any SwiftProtobuf.Message)], cache: ResourcePackCache?) throws {
        var resources: [String: VersionedResource] = [:]
        for (name, message) in messages {
            resources[name] = try cache?.packed(type, name: name, message) ?? VersionedResource(type, name: name, message)
        }
        byType[type] = resources
    }

    public subscript(type: ResourceType) -> [String: VersionedResource] {
        byType[type] ?? [:]
    }

    /// A version for a whole type's content, for state-of-the-world responses.
    public func version(of type: ResourceType, names: Set<String>? = nil) -> String {
        var hasher = ContentHash()
        for (name, resource) in self[type].sorted(by: { $0.key < $1.key }) where names?.contains(name) ?? true {
            hasher.combine(name)
            hasher.combine(resource.version)
        }
        return hasher.hex
    }
}

import struct Foundation.Data

/// FNV-1a, 64 bits: a stable content hash (Swift's `Hasher` is seeded per process).
struct ContentHash {
    private var state: UInt64 = 0xcbf2_9ce4_8422_2325

    mutating func combine(_ bytes: some Sequence<UInt8>) {
        for byte in bytes {
            state ^= UInt64(byte)
            state &*= 0x100_0000_01b3
        }
    }

    mutating func combine(_ text: String) {
        combine(text.utf8)
        combine(CollectionOfOne(0))
    }

    var hex: String {
        let digits = String(state, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }

    static func hex(_ bytes: [UInt8]) -> String {
        var hash = ContentHash()
        hash.combine(bytes)
        return hash.hex
    }
}
