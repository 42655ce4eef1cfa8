// Istio's enums as Swift string enums, decoded with a list of the accepted values on error.

/// An enum of Istio's API, written in YAML by its value name (`ISTIO_MUTUAL`).
public protocol ConfigEnum: RawRepresentable, CaseIterable, Codable, Hashable, Sendable where RawValue == String {}

/// A type some of whose fields Istio has removed; old YAML that still sets them gets advice
/// instead of a bare "unknown field".
protocol RemovedFields {
    /// Removed field name → what to write instead.
    static var removedFields: [String: String] { get }
}
