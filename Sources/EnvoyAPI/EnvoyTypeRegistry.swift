// Registers the generated xDS message types for google.protobuf.Any, which JSON encoding needs.

import SwiftProtobuf

/// The generated Envoy xDS and Istio CA API. JSON of a message holding an `Any` (`typed_config`,
/// discovery `resources`) must name the packed type, which SwiftProtobuf can only do for
/// registered types; golden files and debug dumps are JSON.
public enum EnvoyTypeRegistry {
    /// Registers every generated message type. Safe to call any number of times.
    public static func registerAll() {
        _ = registration
    }

    private static let registration: Bool = {
        for type in allGeneratedMessageTypes {
            _ = Google_Protobuf_Any.register(messageType: type)
        }
        return true
    }()

    /// How many message types the generated API has.
    public static var messageTypeCount: Int { allGeneratedMessageTypes.count }
}
