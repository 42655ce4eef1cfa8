// The error ConfigGen throws when an Istio resource cannot be expressed in Envoy's API.

import MeshAPI

/// A field of an Istio resource that Envoy cannot express, with where it was written.
public struct TranslationError: Error, CustomStringConvertible, Hashable, Sendable {
    /// `VirtualService default/reviews`, `Sidecar default/ratings`.
    public var resource: String
    /// The field's path inside the spec: `http[1].redirect.redirectCode`.
    public var field: String
    public var reason: String

    public init(resource: String, field: String, reason: String) {
        self.resource = resource
        self.field = field
        self.reason = reason
    }

    public init(_ reference: ResourceReference, field: String, reason: String) {
        self.init(resource: "\(reference.kind) \(reference.namespace)/\(reference.name)", field: field, reason: reason)
    }

    public var description: String { "\(resource) \(field): \(reason)" }
}
