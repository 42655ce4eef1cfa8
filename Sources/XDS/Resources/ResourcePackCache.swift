// Serialized resources shared by every proxy of one push.

import EnvoyAPI
import Foundation
import SwiftProtobuf
import Synchronization
import XDSClient

/// Clusters and endpoints are mostly the same for every proxy that gets them (a service's
/// cluster depends on the service, its DestinationRule and the proxy's namespace), so packing
/// each once per push and sharing the bytes saves both the serialization and the memory of a
/// copy per proxy. A hit needs the message to equal the cached one, so the cache is never
/// wrong, only sometimes useless; equality is cheap when the message shares its storage with
/// the cached one, which is what ConfigGen's PushContext hands out.
final class ResourcePackCache: Sendable {
    private struct Entry: @unchecked Sendable {
        // Protobuf messages are values; `any Message` is only not statically Sendable.
        var message: any SwiftProtobuf.Message
        var packed: VersionedResource
    }

    private let entries = Mutex<[ResourceType: [String: Entry]]>([:])

    func packed(_ type: ResourceType, name: String, _ message: any SwiftProtobuf.Message) throws -> VersionedResource {
        if let entry = entries.withLock({ $0[type]?[name] }), entry.message.isEqualTo(message: message) {
            return entry.packed
        }
        let packed = try VersionedResource(type, name: name, message)
        // The first proxy's version stays: the common case is that every proxy has the same.
        entries.withLock { if $0[type]?[name] == nil { $0[type, default: [:]][name] = Entry(message: message, packed: packed) } }
        return packed
    }
}
