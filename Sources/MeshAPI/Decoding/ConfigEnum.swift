// Istio's enums as Swift string enums, decoded with a list of the accepted values on error.

/// An enum of Istio's API, written in YAML by its value name (`ISTIO_MUTUAL`).
public protocol ConfigEnum: RawRepresentable, CaseIterable, Codable, Hashable, Sendable where RawValue == String {}
